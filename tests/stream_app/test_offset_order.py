"""The per-partition cursor that stops a worker before it applies a record past an unprocessed one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stream_app.offset_order import QUIET_SECONDS, REWIND_RETRY_SECONDS, OffsetOrder, Order

EVENTS = ("stream", "app.events", 3)
JOBS = ("fees", "app.attributed-jobs", 0)
JOBS_FOR_PERFORMANCE = ("performance", "app.attributed-jobs", 0)


def test_records_from_the_committed_offset_on_are_next() -> None:
    order = OffsetOrder()
    order.start(EVENTS, 1, 40)
    assert [order.observe(EVENTS, offset) for offset in (40, 41, 42)] == [Order.NEXT] * 3
    assert order.expected(EVENTS) == 43


def test_a_first_record_past_the_committed_offset_is_a_gap_then_skips_until_the_rewind_delivers_it() -> None:
    order = OffsetOrder()
    order.start(EVENTS, 1, 40)
    assert order.observe(EVENTS, 41) is Order.GAP
    assert order.observe(EVENTS, 42) is Order.GAP, "until a rewind is under way, every record past the gap is one"
    order.rewinding(EVENTS, 0.0)
    assert [order.observe(EVENTS, offset) for offset in (42, 40, 41)] == [Order.SKIP, Order.NEXT, Order.NEXT]
    assert order.observe(EVENTS, 43) is Order.GAP


def test_records_deleted_before_the_reader_got_them_are_passed_over() -> None:
    order = OffsetOrder()
    order.start(EVENTS, 1, 5)
    assert order.observe(EVENTS, 9) is Order.GAP
    order.skip_expired(EVENTS, 9)
    assert order.observe(EVENTS, 9) is Order.NEXT


def test_a_record_skipped_mid_assignment_is_a_gap() -> None:
    order = OffsetOrder()
    order.start(EVENTS, 1, 0)
    order.observe(EVENTS, 0)
    assert order.observe(EVENTS, 2) is Order.GAP


def test_a_seek_back_repeats_records_and_the_cursor_keeps_its_place() -> None:
    order = OffsetOrder()
    order.start(EVENTS, 1, 10)
    for offset in range(10, 15):
        order.observe(EVENTS, offset)
    assert [order.observe(EVENTS, offset) for offset in (10, 11)] == [Order.REPEAT] * 2
    assert order.observe(EVENTS, 16) is Order.GAP
    order.rewinding(EVENTS, 0.0)
    assert order.observe(EVENTS, 12) is Order.REPEAT
    assert order.observe(EVENTS, 15) is Order.NEXT


def test_a_new_generation_needs_a_new_start_and_partitions_are_independent() -> None:
    order = OffsetOrder()
    assert order.needs_start(EVENTS, 1)
    order.start(EVENTS, 1, 5)
    assert not order.needs_start(EVENTS, 1)
    assert order.needs_start(EVENTS, 2)
    assert order.needs_start(JOBS, 1)
    order.start(JOBS, 1, 0)
    order.observe(EVENTS, 5)
    assert order.observe(JOBS, 0) is Order.NEXT
    order.start(EVENTS, 2, 3)
    assert order.observe(EVENTS, 3) is Order.NEXT


@given(st.integers(0, 10**6), st.lists(st.integers(0, 50), max_size=60))
def test_every_record_before_a_next_one_was_seen(start: int, steps: list[int]) -> None:
    order = OffsetOrder()
    order.start(EVENTS, 0, start)
    seen: set[int] = set()
    for step in steps:
        offset = start + step
        verdict = order.observe(EVENTS, offset)
        if verdict is Order.GAP:
            order.rewinding(EVENTS, 0.0)
        if verdict is Order.NEXT:
            assert set(range(start, offset)) <= seen
            seen.add(offset)
        elif verdict in (Order.GAP, Order.SKIP):
            assert not set(range(start, offset)) <= seen
        else:
            assert offset in seen


def test_two_readers_of_one_partition_keep_their_own_place() -> None:
    order = OffsetOrder()
    order.start(JOBS, 1, 0)
    assert [order.observe(JOBS, offset) for offset in (0, 1)] == [Order.NEXT] * 2
    order.start(JOBS_FOR_PERFORMANCE, 1, 0)
    assert order.observe(JOBS_FOR_PERFORMANCE, 0) is Order.NEXT
    assert order.observe(JOBS, 2) is Order.NEXT


def test_a_reader_still_skipping_a_while_after_its_rewind_is_due_to_rewind_again() -> None:
    order = OffsetOrder()
    order.start(EVENTS, 1, 7)
    order.start(JOBS, 1, 0)
    assert order.observe(EVENTS, 9) is Order.GAP
    assert order.rewinds_due(100.0) == [], "no rewind under way yet"
    order.rewinding(EVENTS, 100.0)
    assert order.observe(EVENTS, 10) is Order.SKIP
    assert order.rewinds_due(100.0 + REWIND_RETRY_SECONDS / 2) == []
    assert order.rewinds_due(100.0 + REWIND_RETRY_SECONDS) == [(EVENTS, 7)]
    order.observe(EVENTS, 7)
    assert order.rewinds_due(200.0) == [], "the rewind delivered the expected record"


def test_a_forgotten_partition_starts_afresh() -> None:
    order = OffsetOrder()
    order.start(EVENTS, 1, 7)
    order.observe(EVENTS, 9)
    order.rewinding(EVENTS, 0.0)
    order.forget(EVENTS)
    assert order.rewinds_due(100.0) == []
    assert order.needs_start(EVENTS, 1)


def test_a_reader_quiet_for_a_while_is_named_once_per_quiet_period_with_its_expected_offset() -> None:
    # Faust drops records below its own read offset; a rewind can leave that past the reader's expected
    # offset, and then no record reaches the reader at all: only the quiet check notices (seed 11, trial 26).
    now = [100.0]
    order = OffsetOrder(clock=lambda: now[0])
    order.start(EVENTS, 1, 7)
    assert order.observe(EVENTS, 7) is Order.NEXT
    assert order.quiet(100.0 + QUIET_SECONDS / 2) == []
    assert order.quiet(100.0 + QUIET_SECONDS) == [(EVENTS, 8)]
    assert order.quiet(100.0 + QUIET_SECONDS + 1) == [], "looked at: quiet again only after another period"
    assert order.quiet(100.0 + 2 * QUIET_SECONDS) == [(EVENTS, 8)]


def test_a_rewinding_reader_is_left_to_the_rewind_retries_not_the_quiet_check() -> None:
    now = [100.0]
    order = OffsetOrder(clock=lambda: now[0])
    order.start(EVENTS, 1, 7)
    assert order.observe(EVENTS, 9) is Order.GAP
    order.rewinding(EVENTS, 100.0)
    assert order.quiet(100.0 + QUIET_SECONDS) == []
    now[0] = 200.0
    assert order.observe(EVENTS, 7) is Order.NEXT
    assert order.quiet(200.0 + QUIET_SECONDS) == [(EVENTS, 8)]


def test_an_assigned_partition_no_record_of_which_reached_a_reader_is_named_once_per_quiet_period() -> None:
    # A worker killed in the first second of a run left both others receiving nothing after the rebalance:
    # no reader had a cursor, so neither the gap check nor the quiet check could notice (seed 11, 3 trials).
    now = [100.0]
    order = OffsetOrder(clock=lambda: now[0])
    order.assigned([("app.events", 3), ("app.attributed-jobs", 0)])

    assert order.unstarted(100.0 + QUIET_SECONDS / 2) == []
    assert order.unstarted(100.0 + QUIET_SECONDS) == [("app.events", 3), ("app.attributed-jobs", 0)]
    assert order.unstarted(100.0 + QUIET_SECONDS + 1) == []

    order.start(JOBS, 1, 0)
    order.observe(JOBS, 0)
    assert order.unstarted(100.0 + 2 * QUIET_SECONDS) == [("app.events", 3)], "a record reached a reader"


def test_a_partition_revoked_or_forgotten_before_any_record_is_no_longer_watched() -> None:
    order = OffsetOrder(clock=lambda: 100.0)
    order.assigned([("app.events", 3), ("app.attributed-jobs", 0)])

    order.unassigned(("app.events", 3))
    order.forget(JOBS)

    assert order.unstarted(100.0 + QUIET_SECONDS) == []
