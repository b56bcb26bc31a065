"""Terminal payouts as the predecessor's payment events (replaced-system.md §5.3), for the summary and audits."""

from __future__ import annotations

import json

import pytest

from payments.audit import audit_document, payment_event, payment_history
from payments.wal import Resolution, record_halted, record_mined, record_resolved
from tests.payments.test_wal import PAYEE, SIGNER, at, history, intent, receipt_for, signed


def test_a_confirmed_payout_is_a_completed_event_with_its_blockchain_details() -> None:
    confirmed = history()[-1]

    event = payment_event(confirmed)

    assert event == {
        "payment_id": confirmed.payout_id,
        "eth_address": PAYEE,
        "amount": 10**16,
        "timestamp": at(6).isoformat(),
        "transaction_hash": confirmed.attempts[1].tx_hash,
        "status": "completed",
        "blockchain_details": {
            "transaction_hash": confirmed.attempts[1].tx_hash,
            "from": SIGNER.address,
            "to": PAYEE,
            "amount": 10**16,
            "amount_eth": 0.01,
            "gas_used": 21_000,
            "gas_price": 1_000_000_000,
            "block_number": 42,
            "status": "completed",
        },
    }
    assert event["transaction_hash"].startswith("0x") and len(event["transaction_hash"]) == 66


def test_a_reverted_payout_is_an_error_event_and_is_not_in_the_payment_history() -> None:
    record = signed()
    failed = record_mined(record, receipt_for(record, status=0), at(5))

    event = payment_event(failed)

    assert event["status"] == "error" and event["blockchain_details"]["status"] == "error"
    assert payment_history([failed]) == {}


def test_operator_resolutions_say_who_decided_on_what_evidence() -> None:
    halted = record_halted(signed(), "nonce 7 was used elsewhere", at(3))
    paid = record_resolved(
        halted, Resolution(paid=True, evidence="explorer", operator="ops", tx_hash="0x" + "22" * 32), at(4)
    )
    unpaid = record_resolved(halted, Resolution(paid=False, evidence="nonce went to a sweep", operator="ops"), at(4))

    assert payment_event(paid) | {"timestamp": None} == {
        "payment_id": paid.payout_id,
        "eth_address": PAYEE,
        "amount": 10**16,
        "timestamp": None,
        "transaction_hash": "0x" + "22" * 32,
        "status": "completed",
        "source": "operator_resolution",
        "evidence": "explorer",
    }
    assert payment_event(unpaid)["status"] == "failed"
    assert payment_event(unpaid)["failure_reason"] == "resolved as unpaid: nonce went to a sweep"


def test_the_payment_history_lists_each_addresss_paid_payouts_in_payout_order() -> None:
    later = history()[-1]
    first_intent = intent(seq=2)
    second = record_mined(signed(first_intent), receipt_for(signed(first_intent)), at(9))

    listed = payment_history([second, later])

    assert [e["payment_id"] for e in listed[PAYEE]] == [later.payout_id, second.payout_id]


def test_an_open_payout_has_no_event_and_an_audit_document_is_plain_json() -> None:
    with pytest.raises(ValueError, match="not terminal"):
        payment_event(signed())
    document = audit_document(history()[-1])

    assert json.loads(json.dumps(document, allow_nan=False))["wal_record"]["state"] == "confirmed"
