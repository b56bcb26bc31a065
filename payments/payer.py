"""The payer: drives each payout through the WAL state machine against the chain, one payout at a time.

The rules that keep a payout from being paid twice:
- a transaction is broadcast only after the WAL acknowledged the record holding its raw bytes (SIGNED, or
  REPLACED for a replacement), so after any crash the WAL knows every transaction that may be on the chain;
- a stuck transaction is replaced with the same nonce, never a new one, so at most one of its attempts
  can ever be mined;
- recovery looks up every known hash first; re-broadcasting identical raw bytes is the only resend it does
  by itself. When the nonce was used by a transaction the WAL does not know, the payout is HALTED and all
  payouts stop until an operator resolves it.

Payouts run strictly one after the other (each waits for its receipt before the next is signed), so one
stuck transaction never strands a queue of later nonces behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from openpool.domain.payouts import PayoutPlan, PayoutPolicy, plan_payouts
from openpool.settings import Settings
from payments.chain import Chain, ChainError, SendStatus
from payments.signer import Signer
from payments.wal import (
    PaidLedger,
    PayoutState,
    Receipt,
    TxAttempt,
    WalRecord,
    bumped_fee,
    ledger_from_wal,
    new_intent,
    record_broadcast,
    record_halted,
    record_mined,
    record_replaced,
    record_signed,
)
from payments.wal_sink import WalSink

log = logging.getLogger(__name__)

GAS_ESTIMATE_MARGIN = (6, 5)  # ×1.2: headroom for estimates that drift between estimate and inclusion


@dataclass(frozen=True, slots=True)
class PayerConfig:
    chain_id: int
    max_fee_cap_wei: int
    gas_limit: int
    priority_fee_wei: int = 0
    replace_after_seconds: float = 120.0
    receipt_timeout_seconds: float = 600.0
    max_replacements: int = 3
    poll_interval_seconds: float = 0.5
    kill_switch: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PayerConfig:
        return cls(
            chain_id=settings.chain_id,
            max_fee_cap_wei=settings.max_gas_price_wei,
            gas_limit=settings.gas_limit,
            priority_fee_wei=settings.payout_priority_fee_wei,
            replace_after_seconds=settings.payout_replace_after_seconds,
            receipt_timeout_seconds=settings.payout_receipt_timeout_seconds,
            max_replacements=settings.payout_max_replacements,
            poll_interval_seconds=settings.payout_poll_interval_seconds,
            kill_switch=settings.payouts_kill_switch,
        )


def policy_from_settings(settings: Settings) -> PayoutPolicy:
    return PayoutPolicy(
        threshold_wei=settings.payment_threshold_wei,
        max_payout_wei=settings.payout_max_wei,
        daily_budget_wei=settings.payout_daily_budget_wei,
        kill_switch=settings.payouts_kill_switch,
    )


class StopReason(StrEnum):
    KILL_SWITCH = "kill_switch"
    HALTED = "halted"
    UNSETTLED_PAYOUTS = "unsettled_payouts"
    CHAIN_ID_MISMATCH = "chain_id_mismatch"
    BASE_FEE_ABOVE_CAP = "base_fee_above_cap"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    GAS_ESTIMATE_ABOVE_LIMIT = "gas_estimate_above_limit"
    GAS_ESTIMATE_FAILED = "gas_estimate_failed"
    REJECTED_BY_NODE = "rejected_by_node"
    NOT_MINED_IN_TIME = "not_mined_in_time"
    STALE_PLAN = "stale_plan"


@dataclass(frozen=True, slots=True)
class Stop:
    reason: StopReason
    detail: str
    payout_id: str | None = None


class _Stopped(Exception):
    def __init__(self, stop: Stop) -> None:
        super().__init__(stop.detail)
        self.stop = stop


@dataclass(frozen=True, slots=True)
class PayerRun:
    """What one `reconcile` or `pay` call did: the latest record of each payout it touched, and why it stopped."""

    records: tuple[WalRecord, ...]
    stop: Stop | None

    def by_state(self, state: PayoutState) -> tuple[WalRecord, ...]:
        return tuple(record for record in self.records if record.state is state)


@dataclass(frozen=True, slots=True)
class _Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Payer:
    def __init__(
        self,
        chain: Chain,
        signer: Signer,
        wal: WalSink,
        config: PayerConfig,
        ledger: PaidLedger,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._chain = chain
        self._signer = signer
        self._wal = wal
        self._config = config
        self._latest: dict[str, WalRecord] = dict(ledger.records)
        self._clock = clock
        self._next_nonce = 0
        self._chain_checked = False

    @property
    def ledger(self) -> PaidLedger:
        return ledger_from_wal(self._latest.values())

    # --- the two entry points ---

    async def reconcile(self) -> PayerRun:
        """Settle every open payout the WAL knows, oldest nonce first; unsigned intents are signed and sent."""
        touched: list[str] = []
        try:
            for record in self.ledger.open_records:
                if record.state is PayoutState.HALTED:
                    await self._recheck_halted(record, touched)
                    continue
                touched.append(record.payout_id)
                settled = await (self._observe(record) if self._config.kill_switch else self._settle(record))
                if settled.state is PayoutState.HALTED:
                    raise _Stopped(Stop(StopReason.HALTED, settled.halt_reason or "", record.payout_id))
        except _Stopped as stopped:
            return self._run(touched, stopped.stop)
        return self._run(touched, None)

    async def pay(self, plan: PayoutPlan) -> PayerRun:
        """Pay the plan's intents one by one; stops at the first payout that cannot be completed."""
        touched: list[str] = []
        try:
            self._refuse_unless_settled()
            for intent in plan.intents:
                if intent.payout_id in self._latest:
                    raise _Stopped(Stop(StopReason.STALE_PLAN, "payout already in the WAL", intent.payout_id))
                record = new_intent(intent, self._clock())
                fees, gas, nonce = await self._prepare(record)
                touched.append(record.payout_id)
                record = await self._append(record)
                record = await self._sign(record, fees, gas, nonce)
                settled = await self._settle(record)
                if settled.state is PayoutState.HALTED:
                    raise _Stopped(Stop(StopReason.HALTED, settled.halt_reason or "", intent.payout_id))
        except _Stopped as stopped:
            return self._run(touched, stopped.stop)
        return self._run(touched, None)

    async def _recheck_halted(self, record: WalRecord, touched: list[str]) -> None:
        """A halted payout whose own transaction turns out mined is settled; anything else waits for a person."""
        receipt = await self._find_receipt(record)
        if receipt is not None:
            touched.append(record.payout_id)
            await self._append(record_mined(record, receipt, self._clock()))

    def _run(self, payout_ids: list[str], stop: Stop | None) -> PayerRun:
        return PayerRun(tuple(self._latest[payout_id] for payout_id in payout_ids if payout_id in self._latest), stop)

    def _refuse_unless_settled(self) -> None:
        if self._config.kill_switch:
            raise _Stopped(Stop(StopReason.KILL_SWITCH, "OPENPOOL_PAYOUTS_KILL_SWITCH is set"))
        open_records = self.ledger.open_records
        halted = [record for record in open_records if record.state is PayoutState.HALTED]
        if halted:
            raise _Stopped(Stop(StopReason.HALTED, "a halted payout awaits an operator", halted[0].payout_id))
        if open_records:
            raise _Stopped(
                Stop(StopReason.UNSETTLED_PAYOUTS, "reconcile open payouts first", open_records[0].payout_id)
            )

    # --- one payout ---

    async def _settle(self, record: WalRecord) -> WalRecord:
        if record.state is PayoutState.INTENT:
            fees, gas, nonce = await self._prepare(record)
            record = await self._sign(record, fees, gas, nonce)
        record = await self._ensure_broadcast(record)
        if record.is_terminal or record.state is PayoutState.HALTED:
            return record
        return await self._await_mined(record)

    async def _observe(self, record: WalRecord) -> WalRecord:
        """Kill switch on: learn from the chain what happened, send nothing."""
        if not record.attempts:
            return record
        settled = await self._settled_on_chain(record)
        return record if settled is None else settled

    async def _prepare(self, record: WalRecord) -> tuple[_Fees, int, int]:
        """Check that this payout can be sent now, before anything about it is signed."""
        await self._check_chain()
        payer = self._signer.address
        base_fee = await self._chain.base_fee_wei()
        cap = self._config.max_fee_cap_wei
        if base_fee > cap:
            raise _Stopped(
                Stop(StopReason.BASE_FEE_ABOVE_CAP, f"base fee {base_fee} wei > cap {cap} wei", record.payout_id)
            )
        max_fee = min(2 * base_fee + self._config.priority_fee_wei, cap)
        fees = _Fees(max_fee, min(self._config.priority_fee_wei, max_fee))
        balance = await self._chain.balance_wei(payer)
        if balance < record.amount_wei:
            raise _Stopped(self._short_of_funds(record, balance, record.amount_wei))
        gas = await self._gas(record)
        needed = record.amount_wei + gas * fees.max_fee_per_gas
        if balance < needed:
            raise _Stopped(self._short_of_funds(record, balance, needed))
        # Open payouts' nonces count even when the node has forgotten their transactions; settled ones
        # do not: a nonce that was signed but never mined must be reused, or every later nonce waits on it.
        open_nonces = [r.nonce + 1 for r in self._latest.values() if r.nonce is not None and not r.is_terminal]
        nonce = max(await self._chain.nonce(payer, "pending"), self._next_nonce, *open_nonces)
        return fees, gas, nonce

    def _short_of_funds(self, record: WalRecord, balance: int, needed: int) -> Stop:
        detail = f"payer balance {balance} wei < {needed} wei (value + gas × maxFeePerGas)"
        return Stop(StopReason.INSUFFICIENT_BALANCE, detail, record.payout_id)

    async def _gas(self, record: WalRecord) -> int:
        try:
            estimate = await self._chain.estimate_gas(self._signer.address, record.address, record.amount_wei)
        except ChainError as error:
            raise _Stopped(Stop(StopReason.GAS_ESTIMATE_FAILED, str(error), record.payout_id)) from None
        if estimate > self._config.gas_limit:
            detail = f"gas estimate {estimate} > GAS_LIMIT {self._config.gas_limit}"
            raise _Stopped(Stop(StopReason.GAS_ESTIMATE_ABOVE_LIMIT, detail, record.payout_id))
        numerator, denominator = GAS_ESTIMATE_MARGIN
        return min(-(-estimate * numerator // denominator), self._config.gas_limit)

    async def _check_chain(self) -> None:
        if self._chain_checked:
            return
        chain_id = await self._chain.chain_id()
        if chain_id != self._config.chain_id:
            raise _Stopped(
                Stop(StopReason.CHAIN_ID_MISMATCH, f"RPC serves chain {chain_id}, CHAIN_ID is {self._config.chain_id}")
            )
        self._chain_checked = True

    def _signed_attempt(self, record: WalRecord, fees: _Fees, gas: int, nonce: int) -> TxAttempt:
        signed = self._signer.sign(
            {
                "type": 2,
                "chainId": self._config.chain_id,
                "nonce": nonce,
                "to": record.address,
                "value": record.amount_wei,
                "gas": gas,
                "maxFeePerGas": fees.max_fee_per_gas,
                "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
            }
        )
        return TxAttempt(
            nonce=nonce,
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
            gas=gas,
            raw_tx=signed.raw_tx,
            tx_hash=signed.tx_hash,
            signed_at=self._clock(),
        )

    async def _sign(self, record: WalRecord, fees: _Fees, gas: int, nonce: int) -> WalRecord:
        attempt = self._signed_attempt(record, fees, gas, nonce)
        signed = record_signed(record, attempt, self._signer.address, self._config.chain_id, self._clock())
        signed = await self._append(signed)
        self._next_nonce = nonce + 1
        return signed

    async def _ensure_broadcast(self, record: WalRecord) -> WalRecord:
        """Make sure one of the payout's transactions is on the chain or in the node's pool, or halt."""
        if record.payer is not None and record.chain_id != self._config.chain_id:
            raise _Stopped(Stop(StopReason.CHAIN_ID_MISMATCH, "payout signed for another chain", record.payout_id))
        settled = await self._settled_on_chain(record)
        if settled is not None:
            return settled
        if await self._known_to_node(record):
            return await self._mark_broadcast(record)
        attempt = record.latest_attempt
        assert attempt is not None
        outcome = await self._chain.send_raw_transaction(attempt.raw_tx)
        if outcome.status in (SendStatus.ACCEPTED, SendStatus.ALREADY_KNOWN):
            return await self._mark_broadcast(record)
        if outcome.status is SendStatus.UNKNOWN and await self._known_to_node(record):
            return await self._mark_broadcast(record)
        if outcome.status in (SendStatus.NONCE_TOO_LOW, SendStatus.UNDERPRICED):
            settled = await self._settled_on_chain(record)
            if settled is not None:
                return settled
            return await self._halt(
                record, f"nonce {attempt.nonce} is taken by a transaction the WAL does not know ({outcome.detail})"
            )
        if outcome.status is SendStatus.UNKNOWN:
            detail = f"broadcast got no answer ({outcome.detail}); reconcile will look it up"
            raise _Stopped(Stop(StopReason.NOT_MINED_IN_TIME, detail, record.payout_id))
        # Refused outright (typically fees below a risen base fee): nothing of ours holds the nonce, so a
        # re-signed attempt at the same nonce with today's fees is as safe as a replacement.
        resigned = await self._replace(record)
        if resigned.state is PayoutState.BROADCAST and len(resigned.attempts) > len(record.attempts):
            return resigned
        raise _Stopped(Stop(StopReason.REJECTED_BY_NODE, outcome.detail, record.payout_id))

    async def _mark_broadcast(self, record: WalRecord) -> WalRecord:
        if record.state is PayoutState.BROADCAST:
            return record
        return await self._append(record_broadcast(record, self._clock()))

    async def _known_to_node(self, record: WalRecord) -> bool:
        for tx_hash in reversed(record.tx_hashes):
            if await self._chain.transaction(tx_hash) is not None:
                return True
        return False

    async def _find_receipt(self, record: WalRecord) -> Receipt | None:
        for tx_hash in reversed(record.tx_hashes):
            receipt = await self._chain.receipt(tx_hash)
            if receipt is not None:
                return receipt
        return None

    async def _settled_on_chain(self, record: WalRecord) -> WalRecord | None:
        """Mined -> CONFIRMED/FAILED_ONCHAIN; nonce used by an unknown transaction -> HALTED; else None."""
        nonce, payer = record.nonce, record.payer
        if nonce is None or payer is None:
            return None
        # The nonce is read before the receipts: a nonce seen as used is then either ours (its receipt is
        # found next) or not ours; the reverse order could halt on a payout mined between the two reads.
        used = await self._chain.nonce(payer, "latest") > nonce
        receipt = await self._find_receipt(record)
        if receipt is None and used:
            # Behind a load balancer the receipt may come from a node a block behind the one that gave
            # the nonce; look once more before calling the nonce foreign.
            await asyncio.sleep(self._config.poll_interval_seconds)
            receipt = await self._find_receipt(record)
        if receipt is not None:
            return await self._append(record_mined(record, receipt, self._clock()))
        if used:
            return await self._halt(record, f"nonce {nonce} was used by a transaction the WAL does not know")
        return None

    async def _halt(self, record: WalRecord, reason: str) -> WalRecord:
        log.critical("payout halted", extra={"payout_id": record.payout_id, "reason": reason})
        return await self._append(record_halted(record, reason, self._clock()))

    async def _await_mined(self, record: WalRecord) -> WalRecord:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.receipt_timeout_seconds
        replace_at = loop.time() + self._config.replace_after_seconds
        replacements = 0
        while True:
            settled = await self._settled_on_chain(record)
            if settled is not None:
                return settled
            now = loop.time()
            if now >= deadline:
                detail = f"not mined within {self._config.receipt_timeout_seconds} s; reconcile will resume it"
                raise _Stopped(Stop(StopReason.NOT_MINED_IN_TIME, detail, record.payout_id))
            if now >= replace_at and replacements < self._config.max_replacements:
                record = await self._replace(record)
                replacements += 1
                replace_at = loop.time() + self._config.replace_after_seconds
            await asyncio.sleep(self._config.poll_interval_seconds)

    async def _replace(self, record: WalRecord) -> WalRecord:
        """Same nonce, both fees up by more than 10 % (within the cap), recorded before it is sent."""
        previous = record.latest_attempt
        assert previous is not None
        if record.payer != self._signer.address or self._config.kill_switch:
            return record
        base_fee = await self._chain.base_fee_wei()
        tip = max(bumped_fee(previous.max_priority_fee_per_gas), self._config.priority_fee_wei)
        max_fee = min(max(bumped_fee(previous.max_fee_per_gas), 2 * base_fee + tip), self._config.max_fee_cap_wei)
        if max_fee < bumped_fee(previous.max_fee_per_gas) or tip > max_fee:
            log.warning("payout stuck at the fee cap", extra={"payout_id": record.payout_id, "max_fee": max_fee})
            return record
        gas = max(previous.gas, await self._gas(record))
        if await self._chain.balance_wei(record.payer) < record.amount_wei + gas * max_fee:
            log.warning("balance too low to replace", extra={"payout_id": record.payout_id})
            return record
        attempt = self._signed_attempt(record, _Fees(max_fee, tip), gas, previous.nonce)
        record = await self._append(record_replaced(record, attempt, self._clock()))
        outcome = await self._chain.send_raw_transaction(attempt.raw_tx)
        if outcome.status in (SendStatus.ACCEPTED, SendStatus.ALREADY_KNOWN):
            return await self._append(record_broadcast(record, self._clock()))
        # The earlier attempt is still valid at the same nonce; keep waiting for whichever gets mined.
        log.warning(
            "replacement not accepted",
            extra={"payout_id": record.payout_id, "status": outcome.status.value, "detail": outcome.detail},
        )
        return record

    async def _append(self, record: WalRecord) -> WalRecord:
        await self._wal.append(record)
        self._latest[record.payout_id] = record
        attempt = record.latest_attempt
        log.info(
            "payout %s",
            record.state.value,
            extra={
                "payout_id": record.payout_id,
                "state": record.state.value,
                "address": record.address,
                "amount_wei": record.amount_wei,
                "tx_hash": attempt.tx_hash if attempt else None,
                "nonce": attempt.nonce if attempt else None,
            },
        )
        return record


async def run_payouts(
    payer: Payer, earnings_wei: Mapping[str, int], policy: PayoutPolicy, today: date
) -> tuple[PayerRun, PayerRun | None]:
    """Reconcile, then plan from the reconciled ledger and pay; nothing new is paid if reconcile stopped."""
    settled = await payer.reconcile()
    if settled.stop is not None:
        return settled, None
    return settled, await payer.pay(plan_payouts(earnings_wei, payer.ledger, policy, today))
