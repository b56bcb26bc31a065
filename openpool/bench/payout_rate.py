"""Payouts per minute on anvil: one payout round over N addresses, against plain signed transfers one by one.

The payer writes each payout to the WAL before signing, before sending and after mining, and checks balance,
gas and nonce; the baseline only signs, sends and waits for each receipt with the same RPC client, key and
polling interval.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from openpool.sandbox import Sandbox, create_buckets
from openpool.settings import Settings
from openpool.topics import ensure_topics, owned_topics
from payments.chain import Chain
from payments.payout_round import payout_round
from payments.signer import Signer
from payments.wal import PayoutState

AMOUNT_WEI = 10**15
TRANSFER_GAS = 21_000


@dataclass(frozen=True, slots=True)
class PayoutRate:
    payouts: int
    seconds: float

    @property
    def per_minute(self) -> float:
        return 60 * self.payouts / self.seconds if self.seconds > 0 else 0.0


def payees(tag: str, count: int) -> list[str]:
    return [
        to_checksum_address("0x" + hashlib.sha256(f"openpool-bench-payee/{tag}/{index}".encode()).hexdigest()[:40])
        for index in range(count)
    ]


async def payer_rate(sandbox: Sandbox, count: int) -> PayoutRate:
    settings = sandbox.with_settings(PAYMENT_THRESHOLD_WEI=str(AMOUNT_WEI)).settings()
    await create_buckets(settings)
    await ensure_topics(settings, owned_topics(settings))
    earnings = dict.fromkeys(payees(settings.app_id, count), AMOUNT_WEI)
    began = time.perf_counter()
    report = await payout_round(settings, earnings)
    took = time.perf_counter() - began
    paid = report.paid.records if report.paid is not None else ()
    confirmed = sum(1 for record in paid if record.state is PayoutState.CONFIRMED)
    if report.stop is not None:
        raise RuntimeError(f"the payout round stopped: {report.stop.reason.value}: {report.stop.detail}")
    return PayoutRate(confirmed, took)


async def plain_transfer_rate(settings: Settings, count: int) -> PayoutRate:
    signer = Signer.from_settings(settings)
    addresses = payees(f"{settings.app_id}-plain", count)
    async with Chain(settings.eth_rpc_endpoint) as chain:
        began = time.perf_counter()
        for address in addresses:
            base_fee = await chain.base_fee_wei()
            nonce = await chain.nonce(signer.address, "pending")
            signed = signer.sign(
                {
                    "type": 2,
                    "chainId": settings.chain_id,
                    "nonce": nonce,
                    "to": address,
                    "value": AMOUNT_WEI,
                    "gas": TRANSFER_GAS,
                    "maxFeePerGas": 2 * base_fee,
                    "maxPriorityFeePerGas": 0,
                }
            )
            await chain.send_raw_transaction(signed.raw_tx)
            receipt = await chain.receipt(signed.tx_hash)
            while receipt is None:
                await asyncio.sleep(settings.payout_poll_interval_seconds)
                receipt = await chain.receipt(signed.tx_hash)
        took = time.perf_counter() - began
    return PayoutRate(count, took)
