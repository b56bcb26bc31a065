"""The rows of one AI partition key in the `correlation` table, written so that a crash cannot tear a change.

Rows: a head under the partition key itself (watermark, expiry index, held and expired totals, guarded by the
source offset it has applied), one row per requestID with halves pending (`pk#requestID`) and one per expiry
bucket (`pk@start`). An event writes the head and the few rows it changed, not the whole state.

Faust sends each row to the changelog on its own, but every row of a partition key goes to the same changelog
partition in the order written (the producer keeps one batch in flight per partition), so a crash loses a
tail of the writes, never a middle. The head is written first and carries the other rows of its change (the
journal): a re-delivered record whose head was persisted writes the journal again instead of applying twice,
and a record whose head was not persisted has none of its rows persisted. The totals live in the head with the
index that produces them, so an expiry is never counted without its halves leaving (docs/design.md, rule 2).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, cast

from openpool.domain.correlation import CorrelationPolicy, ExpiryBucket, Head, Outcomes, Pending, Step, step
from openpool.domain.delivery import Verdict, should_apply
from openpool.domain.events import Event
from stream_app.tables.guarded import NOTHING_APPLIED, Guarded
from stream_app.tables.write_back import WriteBack


@dataclass(frozen=True, slots=True)
class ExpiryTotals:
    unattributed_jobs: int = 0
    unattributed_fees_wei: int = 0
    unmatched_received: int = 0

    def add(self, outcomes: Outcomes) -> ExpiryTotals:
        return ExpiryTotals(
            unattributed_jobs=self.unattributed_jobs + len(outcomes.unattributed),
            unattributed_fees_wei=self.unattributed_fees_wei + sum(o.fees_wei for o in outcomes.unattributed),
            unmatched_received=self.unmatched_received + len(outcomes.unmatched),
        )


@dataclass(frozen=True, slots=True)
class PartitionCorrelation:
    """The head row's value."""

    head: Head = field(default_factory=Head)
    totals: ExpiryTotals = field(default_factory=ExpiryTotals)
    journal: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """The other rows the last applied change wrote: row key to stored value, None for a deleted row."""

    def to_json(self) -> dict[str, Any]:
        return {
            "head": self.head.to_json(),
            "totals": {
                "unattributed_jobs": self.totals.unattributed_jobs,
                "unattributed_fees_wei": self.totals.unattributed_fees_wei,
                "unmatched_received": self.totals.unmatched_received,
            },
            "journal": dict(self.journal),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartitionCorrelation:
        return cls(Head.from_json(data["head"]), ExpiryTotals(**data["totals"]), MappingProxyType(data["journal"]))

    def read_model(self) -> dict[str, Any]:
        return {
            "held_jobs": self.head.held_jobs,
            "held_fees_wei": self.head.held_fees_wei,
            "waiting_received": self.head.waiting_received,
            "unattributed_jobs": self.totals.unattributed_jobs,
            "unattributed_fees_wei": self.totals.unattributed_fees_wei,
            "unmatched_received": self.totals.unmatched_received,
        }


Row = Guarded[PartitionCorrelation] | Pending | ExpiryBucket
"""A value of the correlation table: a head (under the partition key), a requestID's pending halves
(`pk#requestID`) or an expiry bucket (`pk@start`)."""


def _head(stored: Any) -> Row:
    return Guarded.load(stored, PartitionCorrelation)


def _encode(row: Row) -> Any:
    return row.to_json()


def correlation_write_back(table: MutableMapping[str, Any]) -> WriteBack[Row]:
    return WriteBack(table, _head, _encode)


class CorrelationRows:
    """One partition key's rows, read and written through the batch's write-back cache; the store
    `correlation.step` reads."""

    def __init__(self, rows: WriteBack[Row], partition_key: str, event: Any = None) -> None:
        self._rows = rows
        self._partition_key = partition_key
        self._event = event
        head = rows.get(partition_key, _head)
        self.stored: Guarded[PartitionCorrelation] = (
            cast(Guarded[PartitionCorrelation], head)
            if head is not None
            else Guarded(PartitionCorrelation(), NOTHING_APPLIED)
        )

    def pending(self, request_id: str) -> Pending:
        stored = self._rows.get(self._pending_key(request_id), Pending.from_json)
        return Pending() if stored is None else cast(Pending, stored)

    def bucket(self, start: int) -> ExpiryBucket:
        stored = self._rows.get(self._bucket_key(start), ExpiryBucket.from_json)
        return ExpiryBucket() if stored is None else cast(ExpiryBucket, stored)

    def plan(self, event: Event, verdict: Verdict, offset: int, policy: CorrelationPolicy) -> Step | None:
        """The change the record makes, or None if it was applied before (its journal is then written again,
        in case the crash came between the head and the rows)."""
        if verdict is not Verdict.DUPLICATE and offset == self.stored.applied_offset:
            for key, stored in self.stored.value.journal.items():
                self._rows.put_stored(key, stored, self._event, self._partition_key)
            return None
        if not should_apply(verdict, self.stored.applied_offset, offset):
            return None
        return step(self.stored.value.head, event, policy, self)

    def commit(self, change: Step, offset: int) -> PartitionCorrelation:
        """Hold the change's rows for the checkpoint; the head's journal is made there, from every row of the
        partition key the batch changed (`checkpoint_writes`)."""
        previous = self.stored.value
        value = PartitionCorrelation(change.head, previous.totals.add(change.outcomes))
        self.stored = self.stored.advance(value, offset)
        pk = self._partition_key
        self._rows.put(pk, self.stored, self._event)
        for request_id, pending in change.pending.items():
            self._rows.put(self._pending_key(request_id), pending if pending else None, self._event, pk)
        for start, bucket in change.buckets.items():
            self._rows.put(self._bucket_key(start), bucket if bucket else None, self._event, pk)
        return value

    def _pending_key(self, request_id: str) -> str:
        return f"{self._partition_key}#{request_id}"

    def _bucket_key(self, start: int) -> str:
        return f"{self._partition_key}@{start}"


def checkpoint_writes(rows: WriteBack[Row]) -> list[tuple[str, Any, Any]]:
    """The batch's writes of the correlation table in the order that keeps a crash from tearing a change:
    per partition key its head first, carrying the other rows of the key the batch wrote as its journal,
    then those rows. (key, store form or None to delete, event of the key's partition)."""
    heads: dict[str, tuple[Any, Any]] = {}
    others: dict[str, list[tuple[str, Any, Any]]] = {}
    for key, stored, event, owner in rows.writes():
        if key == owner:
            heads[key] = (stored, event)
        else:
            others.setdefault(owner, []).append((key, stored, event))
    ordered: list[tuple[str, Any, Any]] = []
    for partition_key in {**heads, **others}:
        written = others.get(partition_key, [])
        if partition_key in heads:
            stored, event = heads[partition_key]
            stored["state"]["journal"] = {key: value for key, value, _ in written}
            ordered.append((partition_key, stored, event))
        ordered.extend(written)
    return ordered
