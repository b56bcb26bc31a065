"""The payer's input (earnings read model) and its report (status per address), without services."""

from __future__ import annotations

import pytest
from eth_utils.address import to_checksum_address

from openpool.metrics import PAYER_HALTED, PAYOUT_OLDEST_OPEN_AGE, PAYOUTS, PAYOUTS_WEI
from payments.earnings import EarningsUnreadable, earnings_wei
from payments.gauges import observe_ledger
from payments.status import payout_status
from payments.wal import ledger_from_wal, record_halted
from tests.payments.test_wal import PAYEE, at, history, intent, signed

OTHER = to_checksum_address("0x" + "cd" * 20)


def test_earnings_are_read_per_checksummed_address_as_integer_wei() -> None:
    models = {PAYEE.lower(): {"worker_address": PAYEE.lower(), "worker_earnings": 10**30, "partitions": {}}}

    assert earnings_wei(models) == {PAYEE: 10**30}


@pytest.mark.parametrize(
    "model",
    [
        {"worker_address": PAYEE, "worker_earnings": 1.5},
        {"worker_address": PAYEE, "worker_earnings": -1},
        {"worker_address": PAYEE, "worker_earnings": True},
        {"worker_address": "0x12", "worker_earnings": 1},
        [1, 2],
    ],
)
def test_an_earnings_entry_the_payer_cannot_trust_refuses_the_round(model: object) -> None:
    with pytest.raises(EarningsUnreadable):
        earnings_wei({"k": model})


def test_status_shows_each_address_earned_confirmed_in_flight_and_its_open_payouts() -> None:
    wal = [*history(), record_halted(signed(intent(address=OTHER, amount=3)), "nonce used elsewhere", at(9))]
    ledger = ledger_from_wal(wal)

    status = payout_status({PAYEE: 5 * 10**16, OTHER: 3}, ledger).to_json()

    assert status["halted"] is True
    assert status["addresses"] == [
        {
            "address": PAYEE,
            "earned_wei": 5 * 10**16,
            "confirmed_wei": 10**16,
            "in_flight_wei": 0,
            "unpaid_wei": 4 * 10**16,
            "open_payouts": [],
            "halted": False,
            "awaiting_review": False,
        },
        {
            "address": OTHER,
            "earned_wei": 3,
            "confirmed_wei": 0,
            "in_flight_wei": 3,
            "unpaid_wei": 0,
            "open_payouts": [wal[-1].payout_id],
            "halted": True,
            "awaiting_review": False,
        },
    ]
    assert status["totals"] == {
        "addresses": 2,
        "earned_wei": 5 * 10**16 + 3,
        "confirmed_wei": 10**16,
        "in_flight_wei": 3,
        "unpaid_wei": 4 * 10**16,
        "open_payouts": 1,
    }


def test_the_gauges_count_payouts_by_outcome_and_raise_the_halt_flag() -> None:
    halted = record_halted(signed(intent(address=OTHER, amount=3)), "nonce used elsewhere", at(9))

    observe_ledger(ledger_from_wal([*history(), halted]))

    assert PAYOUTS.labels(state="confirmed")._value.get() == 1
    assert PAYOUTS_WEI.labels(state="pending")._value.get() == 3
    assert PAYER_HALTED._value.get() == 1
    assert PAYOUT_OLDEST_OPEN_AGE.collect()[0].samples[0].value > 0
    observe_ledger(ledger_from_wal(history()))
    assert PAYER_HALTED._value.get() == 0 and PAYOUT_OLDEST_OPEN_AGE.collect()[0].samples[0].value == 0
