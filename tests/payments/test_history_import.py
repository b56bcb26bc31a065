"""Importing the predecessor's audit files: completed payments become paid payouts, once, whatever the order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from openpool.domain.payouts import PayoutPolicy, plan_payouts
from payments.history_import import (
    HistoryError,
    PredecessorHistory,
    PredecessorPayment,
    plan_import,
    read_history,
)
from payments.wal import PayoutState, WalRecord, ledger_from_wal
from tests.payments.test_wal import PAYEE, history

NOW = datetime(2026, 3, 1, tzinfo=UTC)
OTHER = to_checksum_address("0x" + "cd" * 20)


def write_audit(directory: Path, name: str, payments: list[dict[str, Any]]) -> None:
    (directory / name).write_text(json.dumps({"timestamp": "2025-11-05T15:30:00", "payments": payments}))


def event(payment_id: str, amount: int, timestamp: str, status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "eth_address": PAYEE.lower(),
        "amount": amount,
        "timestamp": timestamp,
        "status": status,
        "transaction_hash": "ab" * 32,
    } | extra


def test_completed_payments_are_numbered_after_the_wals_payouts_in_the_order_they_were_made(tmp_path: Path) -> None:
    write_audit(
        tmp_path, "payments_transcode_us-central_20251106_000000.json", [event("pmt_b", 7, "2025-11-06T00:00:00")]
    )
    write_audit(
        tmp_path,
        "payments_transcode_us-central_20251105_000000.json",
        [event("pmt_a", 5, "2025-11-05T00:00:00", transaction_hash="cd" * 32), event("pmt_x", 9, "x", "error")],
    )
    wal = history()  # PAYEE's payout 1, confirmed

    planned = plan_import(read_history(tmp_path), wal, ledger_from_wal(wal), NOW)

    assert [(r.seq, r.amount_wei, r.state) for r in planned.records] == [
        (2, 5, PayoutState.RESOLVED_PAID),
        (3, 7, PayoutState.RESOLVED_PAID),
    ]
    first = planned.records[0]
    assert first.created_at == datetime(2025, 11, 5, tzinfo=UTC) and first.address == PAYEE
    assert first.resolution is not None and first.resolution.reference == "pmt_a"
    assert first.resolution.tx_hash == "0x" + "cd" * 32


def test_a_payment_whose_transaction_the_wal_already_holds_is_not_imported(tmp_path: Path) -> None:
    wal = history()
    known = wal[-1].attempts[0].tx_hash
    write_audit(
        tmp_path, "payments_ai_eu_20251105_000000.json", [event("pmt_a", 5, "2025-11-05", transaction_hash=known)]
    )

    planned = plan_import(read_history(tmp_path), wal, ledger_from_wal(wal), NOW)

    assert planned.records == () and [p.payment_id for p in planned.already_imported] == ["pmt_a"]


def test_failed_payments_are_not_imported_but_those_with_a_transaction_are_reported(tmp_path: Path) -> None:
    write_audit(
        tmp_path,
        "payments_ai_eu_20251105_000000.json",
        [event("pmt_e", 5, "2025-11-05", "error"), event("pmt_f", 5, "2025-11-05", "failed", transaction_hash=None)],
    )

    read = read_history(tmp_path)

    assert read.completed == () and read.not_completed == 2
    assert [(p.payment_id, p.tx_hash) for p in read.to_check] == [("pmt_e", "0x" + "ab" * 32)]


@pytest.mark.parametrize(
    ("payments", "problem"),
    [
        ([event("pmt_a", -5, "2025-11-05")], "amount must be positive"),
        ([event("pmt_a", 1.5, "2025-11-05")], "not an integer"),
        ([event("pmt_a", 5, "2025-11-05", transaction_hash="0x12")], "32-byte hex hash"),
        ([event("pmt_a", 5, "2025-11-05", eth_address="0x12")], "not an Ethereum address"),
        ([event("pmt_a", 5, "yesterday")], "not ISO 8601"),
        ([event("pmt_a", 5, "2025-11-05"), event("pmt_a", 6, "2025-11-05")], "appears twice"),
    ],
)
def test_one_malformed_payment_refuses_the_whole_import(
    tmp_path: Path, payments: list[dict[str, Any]], problem: str
) -> None:
    write_audit(tmp_path, "payments_ai_eu_20251105_000000.json", payments)

    with pytest.raises(HistoryError, match=problem):
        read_history(tmp_path)


def test_a_file_that_is_not_an_audit_log_refuses_the_import(tmp_path: Path) -> None:
    (tmp_path / "payments_ai_eu_20251105_000000.json").write_text("[1, 2")

    with pytest.raises(HistoryError, match="not readable JSON"):
        read_history(tmp_path)


_payments = st.lists(
    st.builds(
        lambda n, address, amount, minutes: PredecessorPayment(
            payment_id=f"pmt_{n}",
            address=address,
            amount_wei=amount,
            paid_at=NOW - timedelta(minutes=minutes),
            tx_hash=None,
            source_file="payments_ai_eu_20251105_000000.json",
        ),
        st.integers(0, 10**6),
        st.sampled_from([PAYEE, OTHER]),
        st.integers(1, 10**20),
        st.integers(0, 10**5),
    ),
    max_size=12,
    unique_by=lambda p: p.payment_id,
)


def _history(payments: list[PredecessorPayment]) -> PredecessorHistory:
    return PredecessorHistory(("f",), tuple(payments), 0, ())


@given(_payments, st.randoms(use_true_random=False))
def test_importing_again_in_any_order_adds_nothing_and_nobody_imported_is_planned_again(
    payments: list[PredecessorPayment], rng: Any
) -> None:
    wal: list[WalRecord] = []
    first = plan_import(_history(payments), wal, ledger_from_wal(wal), NOW)
    wal.extend(first.records)
    shuffled = list(payments)
    rng.shuffle(shuffled)

    again = plan_import(_history(shuffled), wal, ledger_from_wal(wal), NOW)

    ledger = ledger_from_wal(wal)
    paid: dict[str, int] = {}
    for payment in payments:
        paid[payment.address] = paid.get(payment.address, 0) + payment.amount_wei
    assert again.records == () and len(again.already_imported) == len(payments)
    assert ledger.confirmed_wei == paid
    assert plan_payouts(paid, ledger, PayoutPolicy(threshold_wei=1, max_payout_wei=10**30), NOW.date()).intents == ()
