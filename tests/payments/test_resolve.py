"""`openpool payments resolve`: an operator's decision is recorded only when the chain cannot contradict it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payments.chain import Chain
from payments.earnings import load_earnings
from payments.kafka_wal import open_payout_wal
from payments.payout_round import payout_round
from payments.resolution import ResolutionRefused, resolve
from payments.signer import Signer
from payments.wal import PayoutState, Resolution, WalRecord, ledger_from_wal, record_halted
from tests.payments.anvil_control import AnvilControl
from tests.payments.payer_env import PayerEnv

pytestmark = pytest.mark.integration

ETH = 10**18


async def signed_then_halted(payer: PayerEnv) -> WalRecord:
    """A payer that died right after recording SIGNED, and an operator drill that halted the payout."""
    crashed = payer.drill("--crash-at", "signed")
    _, err = crashed.communicate(timeout=60)
    assert crashed.returncode == 86, err
    async with open_payout_wal(payer.settings()) as wal:
        (signed,) = ledger_from_wal(wal.records).open_records
        halted = record_halted(signed, "operator drill", datetime.now(UTC))
        await wal.append(halted)
    return halted


async def test_a_halted_payout_is_released_as_unpaid_only_once_another_transaction_used_its_nonce(
    anvil: AnvilControl, chain: Chain, payer: PayerEnv, payer_signer: Signer, payees: list[str]
) -> None:
    await payer.publish_earnings({payees[0]: 2 * ETH // 100})
    start = await anvil.block_number()
    halted = await signed_then_halted(payer)
    unpaid = Resolution(paid=False, evidence="explorer: nonce 0 went to a sweep", operator="test")

    with pytest.raises(ResolutionRefused, match=r"nonce 0 .* is not used yet"):
        await resolve(halted, unpaid, chain, datetime.now(UTC))
    await anvil.use_nonce_elsewhere(payer_signer, 0, payees[2])
    refused_state = payer.cli("resolve", payees[0], "--as", "unpaid", "--evidence", "x")
    released = payer.cli("resolve", halted.payout_id, "--as", "unpaid", "--evidence", "explorer: nonce 0 is a sweep")
    settings = payer.settings()
    report = await payout_round(settings, await load_earnings(settings))

    assert refused_state.returncode == 1 and "no payout" in refused_state.stderr
    assert released.returncode == 0, released.stderr
    assert f"{halted.payout_id}: resolved_unpaid" in released.stdout
    (repaid,) = report.paid.records  # type: ignore[union-attr]
    assert (repaid.seq, repaid.state, repaid.nonce) == (2, PayoutState.CONFIRMED, 1)
    assert await anvil.balance(payees[0]) == 2 * ETH // 100
    assert await anvil.successful_transfers(payer_signer.address, start) == {
        payees[0].lower(): 1,
        payees[2].lower(): 1,
    }
    resolved = ledger_from_wal(await payer.wal()).records[halted.payout_id]
    assert resolved.resolution is not None and resolved.resolution.evidence == "explorer: nonce 0 is a sweep"


async def test_a_payout_whose_own_transaction_was_mined_cannot_be_released_and_is_resolved_as_paid(
    anvil: AnvilControl, chain: Chain, payer: PayerEnv, payer_signer: Signer, payees: list[str]
) -> None:
    await payer.publish_earnings({payees[0]: 2 * ETH // 100})
    start = await anvil.block_number()
    halted = await signed_then_halted(payer)
    await anvil.call("eth_sendRawTransaction", halted.attempts[0].raw_tx)

    refused = payer.cli("resolve", halted.payout_id, "--as", "unpaid", "--evidence", "looks unpaid")
    paid = payer.cli(
        "resolve",
        halted.payout_id,
        "--as",
        "paid",
        "--evidence",
        "explorer shows the transfer",
        "--tx-hash",
        halted.attempts[0].tx_hash,
    )
    again = payer.cli("resolve", halted.payout_id, "--as", "unpaid", "--evidence", "changed my mind")
    settings = payer.settings()
    report = await payout_round(settings, await load_earnings(settings))

    assert refused.returncode == 1 and "is mined" in refused.stderr
    assert paid.returncode == 0, paid.stderr
    assert again.returncode == 1 and "resolved_paid" in again.stderr
    assert report.outcome == "completed" and report.touched == ()
    assert report.ledger.confirmed_wei == {payees[0]: 2 * ETH // 100}
    assert await anvil.successful_transfers(payer_signer.address, start) == {payees[0].lower(): 1}
