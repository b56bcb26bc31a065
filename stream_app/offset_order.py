"""Every record of a partition is processed in offset order, with none skipped.

The table guards (docs/design.md, rules 2 and 3) treat "applied offset N" as "everything up to N applied".
That holds only if a worker never applies a record while an earlier one of the same partition is still
unprocessed: re-delivered later, the earlier record would be taken for a duplicate and its fees lost.

Faust can hand an agent such a gap. A rebalance clears the records already queued for the agents, and for a
partition with no committed offset yet the consumer is not rewound, so those records are never delivered
again; a record can also be dropped while the fetcher's read offset moves past it (faust-streaming/faust#596),
and Faust commits over a one-record gap at the head of the acked offsets (#606). Neither topic the agents read
is compacted or transactional, so within one assignment the offsets are contiguous: the first record must be
the committed offset (or the log start when nothing was committed) and each next one its predecessor + 1.
On a gap the reader rewinds the consumer to the expected offset and skips, unapplied and unacked, every
record until the expected one arrives again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

Partition = tuple[str, str, int]
"""(reader, topic, partition): every reader of a topic keeps its own place."""

TopicPartition = tuple[str, int]


class Order(Enum):
    NEXT = "next"
    """The record the partition's cursor expects: process it."""
    REPEAT = "repeat"
    """A record this reader already processed in this assignment, delivered again after a rewind: skip it
    (applying it again would be a no-op, but its dead letters would be written twice)."""
    GAP = "gap"
    """Records between the expected offset and this one were never processed: rewind to the expected offset
    and skip this record."""
    SKIP = "skip"
    """Past the expected offset while a rewind is under way: skip it, it will be delivered again."""


REWIND_RETRY_SECONDS = 1.0
"""A rewind can be undone: Faust's fetcher may still be handing out a batch fetched before it, and moves its
read offset past the rewound one as it does, so the records are dropped again. A reader still skipping this
long after its rewind rewinds again."""

QUIET_SECONDS = 10.0
"""A reader that has seen no record this long, while its partition holds records from its expected offset on,
rewinds to that offset. Faust's fetch loop drops every record below its own read offset, and a rewind can leave
that read offset past the reader's expected one (a batch fetched before the rewind moves it on): then no record
reaches the reader at all, so no gap is ever seen, and the partition stalls with lag for good. A partition
assigned this long ago whose records have reached no reader at all is looked at the same way: it has no cursor
yet, and has been seen to stall so (a worker killed in the first second of a run)."""


@dataclass(slots=True)
class _Cursor:
    generation: int | None
    next_offset: int
    seen_at: float
    rewound_at: float | None = None


class OffsetOrder:
    """Per reader, partition and consumer-group generation, the next offset this worker must process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._cursors: dict[Partition, _Cursor] = {}
        self._unstarted: dict[TopicPartition, float] = {}
        """Partitions assigned whose records no reader has seen since, with when they were last looked at."""
        self._clock = clock

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        now = self._clock()
        for partition in partitions:
            self._unstarted[partition] = now

    def unassigned(self, partition: TopicPartition) -> None:
        self._unstarted.pop(partition, None)

    def unstarted(self, now: float) -> list[TopicPartition]:
        """The partitions assigned QUIET_SECONDS ago or more whose records have reached no reader: each must be
        sought to its committed offset if it holds records from there on. Named once per QUIET_SECONDS."""
        due = [partition for partition, since in self._unstarted.items() if now - since >= QUIET_SECONDS]
        for partition in due:
            self._unstarted[partition] = now
        return due

    def needs_start(self, partition: Partition, generation: int | None) -> bool:
        cursor = self._cursors.get(partition)
        return cursor is None or cursor.generation != generation

    def start(self, partition: Partition, generation: int | None, first_offset: int) -> None:
        """A new assignment of `partition` begins at `first_offset` (its committed offset or log start)."""
        self._cursors[partition] = _Cursor(generation, first_offset, self._clock())

    def expected(self, partition: Partition) -> int:
        return self._cursors[partition].next_offset

    def observe(self, partition: Partition, offset: int) -> Order:
        self._unstarted.pop(partition[1:], None)
        cursor = self._cursors[partition]
        cursor.seen_at = self._clock()
        if offset == cursor.next_offset:
            cursor.next_offset += 1
            cursor.rewound_at = None
            return Order.NEXT
        if offset < cursor.next_offset:
            return Order.REPEAT
        return Order.GAP if cursor.rewound_at is None else Order.SKIP

    def rewinding(self, partition: Partition, now: float) -> None:
        """The consumer was rewound to the expected offset: records past it are skipped until it arrives."""
        self._cursors[partition].rewound_at = now

    def rewinds_due(self, now: float) -> list[tuple[Partition, int]]:
        """The readers still waiting for their expected record REWIND_RETRY_SECONDS after their rewind, with
        the offset to rewind to again. Checked on a timer: after a rewind is undone no record may come at all."""
        return [
            (partition, cursor.next_offset)
            for partition, cursor in self._cursors.items()
            if cursor.rewound_at is not None and now - cursor.rewound_at >= REWIND_RETRY_SECONDS
        ]

    def quiet(self, now: float) -> list[tuple[Partition, int]]:
        """The readers not rewinding that have seen no record for QUIET_SECONDS, with their expected offset:
        each must rewind if its partition holds records from that offset on. A reader returned counts as seen
        now, so an idle partition is looked at once per QUIET_SECONDS."""
        quiet = [
            (partition, cursor)
            for partition, cursor in self._cursors.items()
            if cursor.rewound_at is None and now - cursor.seen_at >= QUIET_SECONDS
        ]
        for _, cursor in quiet:
            cursor.seen_at = now
        return [(partition, cursor.next_offset) for partition, cursor in quiet]

    def forget(self, partition: Partition) -> None:
        """The partition is no longer assigned here; its next assignment starts a new cursor."""
        self._cursors.pop(partition, None)
        self._unstarted.pop(partition[1:], None)

    def skip_expired(self, partition: Partition, log_start: int) -> None:
        """The records before `log_start` were deleted by retention before this reader got them."""
        cursor = self._cursors[partition]
        cursor.next_offset = max(cursor.next_offset, log_start)
        cursor.rewound_at = None
