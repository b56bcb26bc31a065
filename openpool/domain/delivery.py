"""Exactly-once effects on top of at-least-once delivery.

Stage 1 reads the events topic, where a file version may be published more than once (bridge restart,
archive replay) and where Kafka re-delivers records after a consumer restarts from its committed offset.
A `FileLedger` per file version remembers which record first applied each position of the file, so that a
record is applied once whatever the number of publications and re-deliveries.

Stage 2 receives the jobs stage 1 forwards, each marked with its `Origin`; `AppliedOrigins` drops the ones
a re-run of stage 1 forwards again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any


class Verdict(Enum):
    NEW = "new"
    """No record applied this position yet: apply it."""
    ORIGINAL = "original"
    """Kafka re-delivered the record that first applied this position: apply it where not yet applied."""
    DUPLICATE = "duplicate"
    """Another record (another publication of the file) applied this position: skip it."""


class LedgerConflict(ValueError):
    """A record contradicts the ledger: offsets were reused (topic re-created) or a version's content changed."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of records that first applied positions `first_position..last_position`.

    No other record of the file version lies between `first_offset` and `last_offset`, so any record of the
    file inside that offset range is one of the run's.
    """

    first_position: int
    last_position: int
    first_offset: int
    last_offset: int

    def covers_position(self, position: int) -> bool:
        return self.first_position <= position <= self.last_position

    def covers_offset(self, offset: int) -> bool:
        return self.first_offset <= offset <= self.last_offset


@dataclass(frozen=True, slots=True)
class FileLedger:
    """What has been applied of one file version (S3 key + version); a handful of segments per version.

    A publication carries the file's records with increasing positions and offsets. Consecutive positions
    applied with no other record of the version in between make one segment, so a complete publication is
    one segment and a publication resumed after a crash adds one. Gaps in positions (elements the bridge
    did not publish) and two publications of one version racing each other split segments further: across
    a gap nobody can tell whether the positions in between were applied.
    """

    segments: tuple[Segment, ...] = ()
    extendable: bool = False
    """No record of this version arrived after the last segment's last record, so the next may extend it."""

    def to_json(self) -> dict[str, Any]:
        return {
            "segments": [[s.first_position, s.last_position, s.first_offset, s.last_offset] for s in self.segments],
            "extendable": self.extendable,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileLedger:
        segments = tuple(Segment(*(_integer(value) for value in row)) for row in data["segments"])
        return cls(segments, bool(data["extendable"]))


def classify(ledger: FileLedger, position: int, offset: int) -> Verdict:
    for segment in ledger.segments:
        if segment.covers_offset(offset):
            if not segment.covers_position(position):
                raise LedgerConflict(f"offset {offset} first applied another position than {position}")
            return Verdict.ORIGINAL
    if any(segment.covers_position(position) for segment in ledger.segments):
        return Verdict.DUPLICATE
    return Verdict.NEW


def admit(ledger: FileLedger, position: int, offset: int) -> tuple[Verdict, FileLedger]:
    """Classify a record of this file version and note it. Call it for every record, duplicates included,
    and store the ledger when it changed: a run of duplicates changes it once, re-deliveries never."""
    verdict = classify(ledger, position, offset)
    last = ledger.segments[-1] if ledger.segments else None
    if verdict is Verdict.NEW:
        if last is not None and ledger.extendable and last.last_position + 1 == position:
            extended = Segment(last.first_position, position, last.first_offset, offset)
            return verdict, FileLedger((*ledger.segments[:-1], extended), extendable=True)
        return verdict, FileLedger((*ledger.segments, Segment(position, position, offset, offset)), extendable=True)
    if verdict is Verdict.DUPLICATE and last is not None and offset > last.last_offset and ledger.extendable:
        return verdict, FileLedger(ledger.segments, extendable=False)
    return verdict, ledger


def should_apply(verdict: Verdict, applied_offset: int, offset: int) -> bool:
    """Whether a state whose last applied record is `applied_offset` takes this record.

    Each table value is persisted on its own, so after a crash a state may be behind or ahead of the ledger:
    NEW is guarded too, because a state persisted past the ledger already holds the record.
    """
    return verdict is not Verdict.DUPLICATE and offset > applied_offset


def _integer(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


@dataclass(frozen=True, slots=True, order=True)
class Origin:
    """Where stage 1 made a forwarded job: the source record's offset and the job's index among its outputs.

    A replay of the events topic regenerates the same origins, and a partition key's origins only grow.
    """

    offset: int
    index: int


@dataclass(frozen=True, slots=True)
class AppliedOrigins:
    """Stage 2, inside each value it updates: per source partition key, the last origin applied."""

    last: Mapping[str, Origin] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self) -> dict[str, list[int]]:
        return {key: [origin.offset, origin.index] for key, origin in sorted(self.last.items())}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AppliedOrigins:
        return cls(
            MappingProxyType(
                {str(key): Origin(_integer(offset), _integer(index)) for key, (offset, index) in data.items()}
            )
        )


def is_applied(applied: AppliedOrigins, partition_key: str, origin: Origin) -> bool:
    last = applied.last.get(partition_key)
    return last is not None and origin <= last


def mark_applied(applied: AppliedOrigins, partition_key: str, origin: Origin) -> AppliedOrigins:
    if is_applied(applied, partition_key, origin):
        return applied
    return AppliedOrigins(MappingProxyType({**applied.last, partition_key: origin}))
