"""Where a consumer group restarts after an offset reset, and whether it may be reset now. Pure decisions.

A reset rewinds (or skips) what the group reads; it never touches the tables. That is what makes a rewind
safe: every record read again is recognised by the stream app's offset guards and file ledgers
(docs/design.md), so it changes nothing that was already applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ToEarliest:
    """Every partition from its earliest offset still in the log."""


@dataclass(frozen=True, slots=True)
class ToDatetime:
    """Every partition from its first record whose timestamp is at or after `at` (the bridge stamps each
    event record with the event's DT, so this is event time, not the time it was published)."""

    at: datetime


@dataclass(frozen=True, slots=True)
class ShiftBy:
    """Every partition with a committed offset moved by `records` (negative: back)."""

    records: int


Strategy = ToEarliest | ToDatetime | ShiftBy


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    partition: int
    committed: int | None
    """The group's committed offset (the next record it reads), None when it never committed one."""
    earliest: int
    latest: int
    """The end offset: where the next produced record goes."""
    at_time: int | None = None
    """With ToDatetime: the broker's offset for the time, None when no record is that late."""


@dataclass(frozen=True, slots=True)
class PartitionReset:
    partition: int
    current: int | None
    new: int | None
    """None: left as it is (a shift of a partition with nothing committed)."""
    latest: int

    @property
    def changes(self) -> bool:
        return self.new is not None and self.new != self.current

    @property
    def records_to_read(self) -> int | None:
        """Records the group reads after the reset before it is caught up again."""
        return None if self.new is None else self.latest - self.new


def reset_plan(offsets: Iterable[PartitionOffsets], strategy: Strategy) -> tuple[PartitionReset, ...]:
    return tuple(
        PartitionReset(row.partition, row.committed, _new_offset(row, strategy), row.latest)
        for row in sorted(offsets, key=lambda row: row.partition)
    )


def _new_offset(row: PartitionOffsets, strategy: Strategy) -> int | None:
    match strategy:
        case ToEarliest():
            target = row.earliest
        case ToDatetime():
            # No record at or after the time: nothing to read again, the group goes to the end.
            target = row.latest if row.at_time is None else row.at_time
        case ShiftBy(records=records):
            if row.committed is None:
                return None
            target = row.committed + records
    return min(max(target, row.earliest), row.latest)


# The states of a group with no member (Kafka's GroupState names).
_WITHOUT_MEMBERS = frozenset({"Empty", "Dead"})


@dataclass(frozen=True, slots=True)
class GroupDescription:
    group: str
    state: str
    members: Sequence[str]
    """client ids of the live members."""


def refusal(description: GroupDescription) -> str | None:
    """Why the group's offsets must not be changed now, or None. A live member would overwrite the new
    offsets with its next commit, so a reset waits until every member has left."""
    if description.members or description.state not in _WITHOUT_MEMBERS:
        members = ", ".join(sorted(description.members)) or "none listed"
        return (
            f"group {description.group} is {description.state} with {len(description.members)} live member(s) "
            f"({members}); stop its consumers first"
        )
    return None
