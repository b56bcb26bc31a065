from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.payouts import PayoutIntent, PayoutPolicy, SkipReason, payout_id, plan_payouts
from payments.signer import Signer
from payments.wal import (
    AttemptMismatch,
    IllegalTransition,
    PayoutState,
    Receipt,
    Resolution,
    TxAttempt,
    WalError,
    WalRecord,
    bumped_fee,
    from_bytes,
    ledger_from_wal,
    new_intent,
    record_broadcast,
    record_halted,
    record_mined,
    record_replaced,
    record_resolved,
    record_signed,
    to_bytes,
)

DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
SIGNER = Signer.load(DEV_KEY)
CHAIN = 42161
PAYEE = to_checksum_address("0x" + "ab" * 20)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def intent(address: str = PAYEE, amount: int = 10**16, seq: int = 1) -> WalRecord:
    return new_intent(PayoutIntent(payout_id(address, seq), address, amount, seq), T0)


def attempt(
    record: WalRecord,
    *,
    nonce: int = 7,
    max_fee: int = 2_000_000_000,
    tip: int = 0,
    value: int | None = None,
    to: str | None = None,
    chain_id: int = CHAIN,
    signer: Signer = SIGNER,
) -> TxAttempt:
    signed = signer.sign(
        {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonce,
            "to": to or record.address,
            "value": record.amount_wei if value is None else value,
            "gas": 25_200,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
        }
    )
    return TxAttempt(
        nonce=nonce,
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=tip,
        gas=25_200,
        raw_tx=signed.raw_tx,
        tx_hash=signed.tx_hash,
        signed_at=at(1),
    )


def receipt_for(record: WalRecord, status: int = 1) -> Receipt:
    return Receipt(
        tx_hash=record.tx_hashes[-1],
        block_number=42,
        block_hash="0x" + "11" * 32,
        gas_used=21_000,
        effective_gas_price=1_000_000_000,
        status=1 if status else 0,
    )


def signed(record: WalRecord | None = None) -> WalRecord:
    record = record or intent()
    return record_signed(record, attempt(record), SIGNER.address, CHAIN, at(2))


def history() -> list[WalRecord]:
    """Every state of one payout that is replaced once and then mined."""
    records = [intent()]
    records.append(signed(records[-1]))
    records.append(record_broadcast(records[-1], at(3)))
    records.append(record_replaced(records[-1], attempt(records[-1], max_fee=2_200_000_001, tip=1), at(4)))
    records.append(record_broadcast(records[-1], at(5)))
    records.append(record_mined(records[-1], receipt_for(records[-1]), at(6)))
    return records


def test_a_payout_goes_intent_signed_broadcast_replaced_confirmed() -> None:
    records = history()

    assert [r.state for r in records] == [
        PayoutState.INTENT,
        PayoutState.SIGNED,
        PayoutState.BROADCAST,
        PayoutState.REPLACED,
        PayoutState.BROADCAST,
        PayoutState.CONFIRMED,
    ]
    final = records[-1]
    assert len(final.attempts) == 2
    assert final.receipt is not None and final.receipt.tx_hash == final.attempts[1].tx_hash
    assert final.payer == SIGNER.address and final.nonce == 7


def test_every_record_round_trips_through_its_bytes_exactly() -> None:
    resolved = record_resolved(
        record_halted(signed(), "nonce 7 was used by a transaction the WAL does not know", at(9)),
        Resolution(paid=True, evidence="explorer shows 0xabc paid it", operator="ops", tx_hash="0x" + "22" * 32),
        at(10),
    )
    big = intent(amount=2**200 + 1)
    for record in [*history(), resolved, big]:
        data = to_bytes(record)
        assert from_bytes(data) == record
        assert to_bytes(from_bytes(data)) == data
    assert from_bytes(to_bytes(big)).amount_wei == 2**200 + 1


def test_a_record_keeps_every_signed_transaction_so_the_last_one_is_enough() -> None:
    final = history()[-1]

    assert {a.raw_tx for a in final.attempts} == {a.raw_tx for r in history() for a in r.attempts}
    assert ledger_from_wal([final]) == ledger_from_wal(history())


@pytest.mark.parametrize(
    ("make", "current", "requested"),
    [
        (lambda: record_broadcast(intent(), at(1)), PayoutState.INTENT, PayoutState.BROADCAST),
        (lambda: record_signed(signed(), attempt(intent()), SIGNER.address, CHAIN, at(3)), "signed", "signed"),
        (lambda: record_broadcast(history()[-1], at(9)), PayoutState.CONFIRMED, PayoutState.BROADCAST),
        (lambda: record_halted(history()[-1], "late", at(9)), PayoutState.CONFIRMED, PayoutState.HALTED),
        (
            lambda: record_resolved(signed(), Resolution(paid=True, evidence="x", operator="o"), at(9)),
            PayoutState.SIGNED,
            PayoutState.RESOLVED_PAID,
        ),
        (
            lambda: record_resolved(signed(), Resolution(paid=False, evidence="x", operator="o"), at(9)),
            PayoutState.SIGNED,
            PayoutState.RESOLVED_UNPAID,
        ),
    ],
)
def test_illegal_transitions_raise_a_typed_error(make: object, current: str, requested: str) -> None:
    with pytest.raises(IllegalTransition) as raised:
        make()  # type: ignore[operator]

    assert raised.value.current == current
    assert raised.value.requested == requested


def test_a_receipt_for_a_transaction_the_payout_never_signed_is_refused() -> None:
    record = record_broadcast(signed(), at(3))
    foreign = receipt_for(record).model_copy(update={"tx_hash": "0x" + "33" * 32})

    with pytest.raises(WalError, match="never signed"):
        record_mined(record, foreign, at(4))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"value": 10**16 + 1}, "value"),
        ({"to": to_checksum_address("0x" + "cd" * 20)}, "payee"),
        ({"chain_id": 1}, "chain id"),
        ({"signer": Signer.load(OTHER_KEY)}, "another account"),
    ],
)
def test_a_signed_transaction_must_pay_exactly_the_intent(changes: dict[str, object], problem: str) -> None:
    record = intent()

    with pytest.raises(AttemptMismatch, match=problem):
        record_signed(record, attempt(record, **changes), SIGNER.address, CHAIN, at(2))  # type: ignore[arg-type]


def test_a_replacement_keeps_the_nonce_and_raises_both_fees_by_more_than_ten_percent() -> None:
    record = record_broadcast(signed(), at(3))

    with pytest.raises(AttemptMismatch, match="nonce"):
        record_replaced(record, attempt(record, nonce=8, max_fee=3_000_000_000, tip=1), at(4))
    with pytest.raises(AttemptMismatch, match="10 %"):
        record_replaced(record, attempt(record, max_fee=2_200_000_000, tip=1), at(4))
    with pytest.raises(AttemptMismatch, match="10 %"):
        record_replaced(record, attempt(record, max_fee=3_000_000_000, tip=0), at(4))
    replaced = record_replaced(record, attempt(record, max_fee=bumped_fee(2_000_000_000), tip=bumped_fee(0)), at(4))
    assert replaced.state is PayoutState.REPLACED


def test_bumped_fees_are_strictly_more_than_ten_percent_higher() -> None:
    assert [bumped_fee(fee) for fee in (0, 1, 10, 2_000_000_000)] == [1, 2, 12, 2_200_000_001]


def test_fields_that_disagree_with_the_raw_transaction_are_refused() -> None:
    good = attempt(intent())

    with pytest.raises(ValueError, match="disagree"):
        TxAttempt.model_validate({**good.model_dump(), "nonce": 8})


def test_a_record_whose_id_is_not_derived_from_address_and_seq_is_refused() -> None:
    data = to_bytes(intent()).replace(b'"seq":1', b'"seq":2')

    with pytest.raises(WalError, match="payout_id"):
        from_bytes(data)


def test_only_confirmed_payouts_count_as_paid_and_open_ones_as_in_flight() -> None:
    a, b, c, d = (to_checksum_address("0x" + ch * 40) for ch in "abcd")
    confirmed = history()[-1]
    pending = intent(b, 500)
    in_flight = record_broadcast(record_signed(pending, attempt(pending, nonce=5), SIGNER.address, CHAIN, at(2)), at(3))
    failed = record_mined(signed(intent(c, 700)), receipt_for(signed(intent(c, 700)), status=0), at(4))
    unpaid = record_resolved(intent(d, 900), Resolution(paid=False, evidence="cancelled", operator="o"), at(4))
    halted = record_halted(signed(intent(d, 300, seq=2)), "nonce used elsewhere", at(5))

    ledger = ledger_from_wal([confirmed, in_flight, failed, unpaid, halted, intent(a, 100, seq=3)])

    assert ledger.confirmed_wei == {PAYEE: 10**16}
    assert ledger.in_flight_wei == {b: 500, d: 300, a: 100}
    assert ledger.open_addresses == {b, d, a}
    assert ledger.review_addresses == {c}
    assert ledger.halted
    assert ledger.next_seq == {PAYEE: 2, b: 2, c: 2, d: 3, a: 4}
    assert [r.payout_id for r in ledger.open_records] == [payout_id(b, 1), payout_id(d, 2), payout_id(a, 3)]
    assert ledger.spent_wei_on(T0.date()) == 10**16 + 500 + 300 + 100
    assert ledger.spent_wei_on(date(2026, 3, 2)) == 0


def test_resolving_a_failed_payout_as_unpaid_lets_the_address_be_paid_again() -> None:
    failed = record_mined(signed(), receipt_for(signed(), status=0), at(4))
    resolved = record_resolved(failed, Resolution(paid=False, evidence="payee fixed its wallet", operator="o"), at(5))
    policy = PayoutPolicy(threshold_wei=1, max_payout_wei=10**18)

    blocked = plan_payouts({PAYEE: 10**16}, ledger_from_wal([failed]), policy, T0.date())
    retried = plan_payouts({PAYEE: 10**16}, ledger_from_wal([failed, resolved]), policy, T0.date())

    assert blocked.skipped == {PAYEE: SkipReason.AWAITING_REVIEW}
    assert [(i.seq, i.amount_wei) for i in retried.intents] == [(2, 10**16)]


def test_a_history_that_runs_backwards_is_refused() -> None:
    records = history()

    with pytest.raises(IllegalTransition):
        ledger_from_wal([records[-1], records[1]])
    with pytest.raises(WalError, match="changes what is paid"):
        ledger_from_wal([intent(amount=5), intent(amount=6)])


def test_the_private_key_never_reaches_the_wal() -> None:
    for record in history():
        assert DEV_KEY[2:].encode() not in to_bytes(record).lower()


@given(
    earnings=st.dictionaries(
        st.sampled_from([to_checksum_address("0x" + ch * 40) for ch in "0123456789abcdef"]),
        st.integers(0, 10**22),
        max_size=10,
    ),
    threshold=st.integers(0, 10**21),
    max_payout=st.integers(1, 10**22),
)
@settings(max_examples=100, deadline=None)
def test_planning_from_the_folded_wal_after_writing_intents_plans_nothing_more(
    earnings: dict[str, int], threshold: int, max_payout: int
) -> None:
    policy = PayoutPolicy(threshold_wei=threshold, max_payout_wei=max_payout)
    first = plan_payouts(earnings, ledger_from_wal([]), policy, T0.date())
    wal = [new_intent(i, T0) for i in first.intents]

    again = plan_payouts(earnings, ledger_from_wal(wal), policy, T0.date())

    assert again.intents == ()
    assert sum(ledger_from_wal(wal).in_flight_wei.values()) == first.total_wei
