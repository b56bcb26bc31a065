"""The payer against a real anvil answering as Arbitrum One: money moves exactly once, whatever happens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from openpool.domain.payouts import PayoutPolicy, SkipReason, plan_payouts
from payments.chain import Chain
from payments.payer import Payer, PayerConfig, StopReason, run_payouts
from payments.signer import Signer
from payments.wal import PayoutState, WalRecord, ledger_from_wal, record_halted, to_bytes
from payments.wal_sink import InMemoryWal
from tests.payments.anvil_control import AnvilControl

pytestmark = pytest.mark.integration

ETH = 10**18
POLICY = PayoutPolicy(threshold_wei=ETH // 100, max_payout_wei=ETH)
TODAY = date(2026, 3, 1)
FAST = PayerConfig(
    chain_id=42161,
    max_fee_cap_wei=5_000_000_000_000,
    gas_limit=1_000_000,
    replace_after_seconds=30.0,
    receipt_timeout_seconds=20.0,
    poll_interval_seconds=0.02,
)


class SimulatedCrash(Exception):
    pass


class CrashingWal(InMemoryWal):
    """Dies on the first append of `state`: after storing it (the ack was lost) or before (the write was lost)."""

    def __init__(self, state: PayoutState, *, durable: bool) -> None:
        super().__init__()
        self._state = state
        self._durable = durable
        self._crashed = False

    async def append(self, record: WalRecord) -> None:
        if record.state is self._state and not self._crashed:
            self._crashed = True
            if self._durable:
                await super().append(record)
            raise SimulatedCrash(record.state.value)
        await super().append(record)


class WatchedWal(InMemoryWal):
    """Sets `seen` once a record matching `wanted` was appended."""

    def __init__(self, wanted: Callable[[WalRecord], bool]) -> None:
        super().__init__()
        self._wanted = wanted
        self.seen = asyncio.Event()

    async def append(self, record: WalRecord) -> None:
        await super().append(record)
        if self._wanted(record):
            self.seen.set()


def fresh_payer(chain: Chain, signer: Signer, records: tuple[WalRecord, ...], config: PayerConfig = FAST) -> Payer:
    """A payer started from nothing but the WAL, as after a restart."""
    return Payer(chain, signer, InMemoryWal(records), config, ledger_from_wal(records))


def wal_of(payer: Payer) -> InMemoryWal:
    wal = payer._wal
    assert isinstance(wal, InMemoryWal)
    return wal


async def test_payees_are_paid_exactly_their_amounts_once_and_a_second_run_sends_nothing(
    anvil: AnvilControl,
    chain: Chain,
    payer_key: str,
    payer_signer: Signer,
    payees: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    earnings = {payees[0]: 3 * ETH // 100, payees[1]: 2 * ETH // 100, payees[2]: ETH // 200}
    start = await anvil.block_number()
    payer = fresh_payer(chain, payer_signer, ())

    settled, paid = await run_payouts(payer, earnings, POLICY, TODAY)
    again = await run_payouts(fresh_payer(chain, payer_signer, wal_of(payer).records), earnings, POLICY, TODAY)

    assert settled.records == () and paid is not None and paid.stop is None
    assert {r.address: (r.state, r.amount_wei) for r in paid.records} == {
        payees[0]: (PayoutState.CONFIRMED, 3 * ETH // 100),
        payees[1]: (PayoutState.CONFIRMED, 2 * ETH // 100),
    }
    assert [await anvil.balance(p) for p in payees] == [3 * ETH // 100, 2 * ETH // 100, 0]
    assert await anvil.successful_transfers(payer_signer.address, start) == {
        payees[0].lower(): 1,
        payees[1].lower(): 1,
    }
    assert again[1] is not None and again[1].records == () and again[1].stop is None
    assert await anvil.nonce(payer_signer.address) == 2
    states = [r.state for r in wal_of(payer).records if r.address == payees[0]]
    assert states == [PayoutState.INTENT, PayoutState.SIGNED, PayoutState.BROADCAST, PayoutState.CONFIRMED]
    key_hex = payer_key.removeprefix("0x")
    assert caplog.records and key_hex not in caplog.text.lower()
    assert all(key_hex.encode() not in to_bytes(r) for r in wal_of(payer).records)


async def _pending(anvil: AnvilControl) -> None:
    await anvil.set_automine(False)


async def _mine_later(anvil: AnvilControl) -> None:
    await asyncio.sleep(0.2)
    await anvil.set_automine(True)


@pytest.mark.parametrize(
    ("crash_on", "durable", "automine", "after_crash"),
    [
        pytest.param(PayoutState.SIGNED, False, True, "nothing", id="after-intent"),
        pytest.param(PayoutState.SIGNED, True, True, "nothing", id="after-signed-not-broadcast"),
        pytest.param(PayoutState.BROADCAST, False, True, "nothing", id="after-broadcast-already-mined"),
        pytest.param(PayoutState.BROADCAST, True, False, "mine-during-reconcile", id="after-broadcast-still-pending"),
        pytest.param(PayoutState.BROADCAST, True, False, "node-drops-tx", id="after-broadcast-node-forgot-it"),
    ],
)
async def test_a_crash_at_any_step_is_recovered_and_every_payee_is_paid_exactly_once(
    anvil: AnvilControl,
    chain: Chain,
    payer_signer: Signer,
    payees: list[str],
    crash_on: PayoutState,
    durable: bool,
    automine: bool,
    after_crash: str,
) -> None:
    earnings = {payees[0]: 2 * ETH // 100, payees[1]: ETH // 100}
    start = await anvil.block_number()
    await anvil.set_automine(automine)
    wal = CrashingWal(crash_on, durable=durable)
    crashing = Payer(chain, payer_signer, wal, FAST, ledger_from_wal(()))

    with pytest.raises(SimulatedCrash):
        await run_payouts(crashing, earnings, POLICY, TODAY)
    crashed = wal.records[-1]
    if crashed.state is PayoutState.SIGNED and crash_on is PayoutState.SIGNED:
        assert await chain.transaction(crashed.tx_hashes[0]) is None  # signed, never sent
    if after_crash == "node-drops-tx":
        await anvil.drop_transaction(crashed.tx_hashes[0])
        assert await chain.transaction(crashed.tx_hashes[0]) is None
        await anvil.set_automine(True)
    recovering = fresh_payer(chain, payer_signer, wal.records)
    mining = asyncio.create_task(_mine_later(anvil)) if after_crash == "mine-during-reconcile" else None

    reconciled = await recovering.reconcile()
    if mining is not None:
        await mining
    _, paid = await run_payouts(recovering, earnings, POLICY, TODAY)

    assert reconciled.stop is None
    assert [(r.address, r.state) for r in reconciled.records] == [(payees[0], PayoutState.CONFIRMED)]
    assert paid is not None and [(r.address, r.state) for r in paid.records] == [(payees[1], PayoutState.CONFIRMED)]
    if crashed.tx_hashes:
        assert reconciled.records[0].receipt is not None
        assert reconciled.records[0].receipt.tx_hash == crashed.tx_hashes[0]  # the very transaction signed first
    assert [await anvil.balance(p) for p in payees[:2]] == [2 * ETH // 100, ETH // 100]
    assert await anvil.successful_transfers(payer_signer.address, start) == {
        payees[0].lower(): 1,
        payees[1].lower(): 1,
    }
    assert recovering.ledger.confirmed_wei == earnings


async def test_a_base_fee_above_the_cap_refuses_before_anything_is_signed(
    anvil: AnvilControl, chain: Chain, payer_signer: Signer, payees: list[str]
) -> None:
    await anvil.set_next_base_fee(FAST.max_fee_cap_wei + 1)
    await anvil.mine()
    payer = fresh_payer(chain, payer_signer, ())

    _, paid = await run_payouts(payer, {payees[0]: ETH // 10}, POLICY, TODAY)

    assert paid is not None and paid.stop is not None
    assert paid.stop.reason is StopReason.BASE_FEE_ABOVE_CAP
    assert wal_of(payer).records == ()
    assert await anvil.nonce(payer_signer.address, "pending") == 0
    assert await anvil.balance(payees[0]) == 0


async def test_a_balance_covering_the_value_but_not_the_gas_refuses(
    anvil: AnvilControl, chain: Chain, payer_signer: Signer, payees: list[str]
) -> None:
    amount = ETH // 10
    await anvil.set_balance(payer_signer.address, amount + 1_000)
    payer = fresh_payer(chain, payer_signer, ())

    _, paid = await run_payouts(payer, {payees[0]: amount}, POLICY, TODAY)

    assert paid is not None and paid.stop is not None
    assert paid.stop.reason is StopReason.INSUFFICIENT_BALANCE
    assert "gas" in paid.stop.detail
    assert wal_of(payer).records == ()
    assert await anvil.nonce(payer_signer.address, "pending") == 0


async def test_a_stuck_transaction_is_replaced_with_the_same_nonce_and_higher_fees_and_mined_once(
    anvil: AnvilControl, chain: Chain, payer_signer: Signer, payees: list[str]
) -> None:
    start = await anvil.block_number()
    await anvil.set_automine(False)
    wal = WatchedWal(lambda r: r.state is PayoutState.BROADCAST and len(r.attempts) > 1)
    payer = Payer(chain, payer_signer, wal, replace(FAST, replace_after_seconds=0.2), ledger_from_wal(()))
    plan = plan_payouts({payees[0]: ETH // 20}, payer.ledger, POLICY, TODAY)

    paying = asyncio.create_task(payer.pay(plan))
    await asyncio.wait_for(wal.seen.wait(), timeout=10)
    await anvil.set_automine(True)
    run = await paying

    (record,) = run.records
    assert run.stop is None and record.state is PayoutState.CONFIRMED
    first, *replacements = record.attempts
    assert replacements
    assert {a.nonce for a in record.attempts} == {first.nonce}
    for before, after in zip(record.attempts, record.attempts[1:], strict=False):
        assert after.max_fee_per_gas * 10 >= before.max_fee_per_gas * 11
        assert after.max_priority_fee_per_gas * 10 >= before.max_priority_fee_per_gas * 11
        assert after.max_priority_fee_per_gas > before.max_priority_fee_per_gas
    assert record.receipt is not None and record.receipt.tx_hash in {a.tx_hash for a in replacements}
    assert await anvil.successful_transfers(payer_signer.address, start) == {payees[0].lower(): 1}
    assert await anvil.balance(payees[0]) == ETH // 20


async def test_a_nonce_used_by_a_transaction_the_wal_does_not_know_halts_every_payout(
    anvil: AnvilControl, chain: Chain, payer_signer: Signer, payees: list[str]
) -> None:
    earnings = {payees[0]: 2 * ETH // 100, payees[1]: ETH // 100}
    wal = CrashingWal(PayoutState.SIGNED, durable=True)
    with pytest.raises(SimulatedCrash):
        await run_payouts(Payer(chain, payer_signer, wal, FAST, ledger_from_wal(())), earnings, POLICY, TODAY)
    await anvil.use_nonce_elsewhere(payer_signer, 0, payees[2])
    recovering = fresh_payer(chain, payer_signer, wal.records)

    reconciled = await recovering.reconcile()
    _, paid = await run_payouts(recovering, earnings, POLICY, TODAY)

    assert reconciled.stop is not None and reconciled.stop.reason is StopReason.HALTED
    (halted,) = reconciled.records
    assert halted.state is PayoutState.HALTED and "nonce 0" in (halted.halt_reason or "")
    assert recovering.ledger.halted and recovering.ledger.in_flight_wei == {payees[0]: 2 * ETH // 100}
    assert plan_payouts(earnings, recovering.ledger, POLICY, TODAY).skipped == {
        payees[0]: SkipReason.IN_FLIGHT,
        payees[1]: SkipReason.HALTED,
    }
    assert paid is not None and paid.stop is not None and paid.stop.reason is StopReason.HALTED
    assert await anvil.nonce(payer_signer.address, "pending") == 1  # only the outsider's transaction
    assert [await anvil.balance(p) for p in payees[:2]] == [0, 0]


async def test_a_signed_transaction_the_node_refuses_for_its_fees_is_re_signed_with_the_same_nonce(
    anvil: AnvilControl, chain: Chain, payer_signer: Signer, payees: list[str]
) -> None:
    start = await anvil.block_number()
    wal = CrashingWal(PayoutState.SIGNED, durable=True)
    with pytest.raises(SimulatedCrash):
        await run_payouts(Payer(chain, payer_signer, wal, FAST, ledger_from_wal(())), {payees[0]: ETH}, POLICY, TODAY)
    (signed_attempt,) = wal.records[-1].attempts
    await anvil.set_next_base_fee(10 * signed_attempt.max_fee_per_gas)
    await anvil.mine()

    reconciled = await fresh_payer(chain, payer_signer, wal.records).reconcile()

    (record,) = reconciled.records
    assert reconciled.stop is None and record.state is PayoutState.CONFIRMED
    first, second = record.attempts
    assert first == signed_attempt and second.nonce == first.nonce
    assert second.max_fee_per_gas > 10 * first.max_fee_per_gas
    assert record.receipt is not None and record.receipt.tx_hash == second.tx_hash
    assert await anvil.successful_transfers(payer_signer.address, start) == {payees[0].lower(): 1}


async def test_a_halted_payout_whose_own_transaction_was_mined_after_all_is_confirmed(
    anvil: AnvilControl, chain: Chain, payer_signer: Signer, payees: list[str]
) -> None:
    wal = CrashingWal(PayoutState.SIGNED, durable=True)
    with pytest.raises(SimulatedCrash):
        await run_payouts(Payer(chain, payer_signer, wal, FAST, ledger_from_wal(())), {payees[0]: ETH}, POLICY, TODAY)
    signed = wal.records[-1]
    halted = record_halted(signed, "operator drill", datetime.now(UTC))
    await anvil.call("eth_sendRawTransaction", signed.attempts[0].raw_tx)

    reconciled = await fresh_payer(chain, payer_signer, (*wal.records, halted)).reconcile()

    assert reconciled.stop is None
    assert [r.state for r in reconciled.records] == [PayoutState.CONFIRMED]
    assert await anvil.balance(payees[0]) == ETH


REVERTS_ON_RECEIVE = "0x60006000fd"  # PUSH1 0 PUSH1 0 REVERT


async def test_a_payee_that_rejects_ether_stops_the_run_before_anything_is_signed(
    anvil: AnvilControl, chain: Chain, payer_signer: Signer, payees: list[str]
) -> None:
    await anvil.call("anvil_setCode", payees[0], REVERTS_ON_RECEIVE)
    payer = fresh_payer(chain, payer_signer, ())

    _, paid = await run_payouts(payer, {payees[0]: ETH}, POLICY, TODAY)

    assert paid is not None and paid.stop is not None and paid.stop.reason is StopReason.GAS_ESTIMATE_FAILED
    assert wal_of(payer).records == ()
    assert await anvil.nonce(payer_signer.address, "pending") == 0


async def test_a_transfer_reverted_on_chain_is_failed_not_paid_and_the_payee_waits_for_review(
    anvil: AnvilControl, chain: Chain, payer_signer: Signer, payees: list[str]
) -> None:
    await anvil.set_automine(False)
    wal = WatchedWal(lambda r: r.state is PayoutState.BROADCAST)
    payer = Payer(chain, payer_signer, wal, FAST, ledger_from_wal(()))
    plan = plan_payouts({payees[0]: ETH}, payer.ledger, POLICY, TODAY)

    paying = asyncio.create_task(payer.pay(plan))
    await asyncio.wait_for(wal.seen.wait(), timeout=10)
    await anvil.call("anvil_setCode", payees[0], REVERTS_ON_RECEIVE)
    await anvil.set_automine(True)
    run = await paying

    (record,) = run.records
    assert run.stop is None and record.state is PayoutState.FAILED_ONCHAIN
    assert record.receipt is not None and record.receipt.status == 0
    assert payer.ledger.confirmed_wei == {} and payer.ledger.in_flight_wei == {}
    assert await anvil.balance(payees[0]) == 0
    again = plan_payouts({payees[0]: ETH}, payer.ledger, POLICY, TODAY)
    assert again.intents == () and again.skipped == {payees[0]: SkipReason.AWAITING_REVIEW}
