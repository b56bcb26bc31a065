"""A switched-to app id gets the latest state of every payout of the old WAL; nothing it holds is rewound."""

from __future__ import annotations

import pytest

from openpool.replay.wal_handover_plan import HandoverRefused, handover_records
from tests.replay.wal_records import PAYEES, halted, intent, paid


def test_an_empty_target_gets_the_latest_record_of_every_payout_in_log_order() -> None:
    first, second = intent(PAYEES[0]), intent(PAYEES[1])
    source = [first, second, halted(first), paid(first)]
    assert handover_records(source, []) == (second, paid(first))


def test_handing_over_twice_appends_nothing_the_second_time() -> None:
    source = [intent(PAYEES[0]), intent(PAYEES[1])]
    assert handover_records(source, source) == ()


def test_a_target_holding_an_earlier_state_of_a_payout_gets_the_later_one() -> None:
    record = intent()
    assert handover_records([record, paid(record)], [record]) == (paid(record),)


def test_a_target_that_holds_a_payout_the_source_lacks_is_refused() -> None:
    with pytest.raises(HandoverRefused, match="which the source WAL does not"):
        handover_records([intent(PAYEES[0])], [intent(PAYEES[1])])


def test_a_target_ahead_of_the_source_is_refused_rather_than_rewound() -> None:
    record = intent()
    with pytest.raises(HandoverRefused, match="does not precede"):
        handover_records([record], [paid(record)])
