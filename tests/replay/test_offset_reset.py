"""The offset-reset plan is a pure function of the committed offsets, the log's bounds and the strategy."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from openpool.replay.offset_reset import (
    GroupDescription,
    PartitionOffsets,
    PartitionReset,
    ShiftBy,
    ToDatetime,
    ToEarliest,
    refusal,
    reset_plan,
)

AT = datetime(2026, 11, 25, 12, tzinfo=UTC)


def test_to_earliest_moves_every_partition_to_its_first_offset_still_in_the_log() -> None:
    plan = reset_plan(
        [PartitionOffsets(1, committed=900, earliest=40, latest=1000), PartitionOffsets(0, None, 0, 10)],
        ToEarliest(),
    )
    assert plan == (PartitionReset(0, None, 0, 10), PartitionReset(1, 900, 40, 1000))
    assert [row.records_to_read for row in plan] == [10, 960]


def test_to_datetime_uses_the_brokers_offset_for_the_time_and_the_end_when_no_record_is_that_late() -> None:
    plan = reset_plan(
        [
            PartitionOffsets(0, committed=500, earliest=0, latest=500, at_time=120),
            PartitionOffsets(1, committed=300, earliest=0, latest=300, at_time=None),
        ],
        ToDatetime(AT),
    )
    assert [(row.new, row.changes) for row in plan] == [(120, True), (300, False)]


def test_a_shift_stays_inside_the_log_and_leaves_a_partition_without_a_commit_alone() -> None:
    rows = [
        PartitionOffsets(0, committed=50, earliest=20, latest=100),
        PartitionOffsets(1, committed=95, earliest=0, latest=100),
        PartitionOffsets(2, committed=None, earliest=0, latest=100),
    ]
    assert [row.new for row in reset_plan(rows, ShiftBy(-40))] == [20, 55, None]
    assert [row.new for row in reset_plan(rows, ShiftBy(10))] == [60, 100, None]
    assert not reset_plan(rows, ShiftBy(10))[2].changes


@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.one_of(st.none(), st.integers(0, 10**6))),
        min_size=1,
        max_size=8,
    ),
    st.one_of(st.just(ToEarliest()), st.integers(-(10**6), 10**6).map(ShiftBy), st.just(ToDatetime(AT))),
    st.integers(0, 10**6),
)
def test_no_plan_ever_points_outside_the_partitions_log(
    bounds: list[tuple[int, int, int | None]], strategy: ToEarliest | ShiftBy | ToDatetime, at_time: int
) -> None:
    rows = [
        PartitionOffsets(p, committed, min(a, b), max(a, b), at_time=at_time)
        for p, (a, b, committed) in enumerate(bounds)
    ]
    for row, reset in zip(rows, reset_plan(rows, strategy), strict=True):
        assert reset.new is None or row.earliest <= reset.new <= row.latest


def test_a_group_with_live_members_is_refused_and_an_empty_or_unknown_one_is_not() -> None:
    busy = refusal(GroupDescription("openpool", "Stable", ["faust-1", "faust-0"]))
    assert busy is not None and "2 live member(s)" in busy and "faust-0, faust-1" in busy
    assert refusal(GroupDescription("openpool", "PreparingRebalance", [])) is not None
    assert refusal(GroupDescription("openpool", "Empty", [])) is None
    assert refusal(GroupDescription("openpool", "Dead", [])) is None
