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
from typing import Any

from openpool.domain.correlation import CorrelationPolicy, ExpiryBucket, Head, Outcomes, Pending, Step, step
from openpool.domain.delivery import Verdict, should_apply
from openpool.domain.events import Event
from stream_app.tables.guarded import Guarded


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


class CorrelationRows:
    """One partition key's rows in a table; the store `correlation.step` reads."""

    def __init__(
        self,
        table: MutableMapping[str, Any],
        partition_key: str,
        cache: dict[str, Guarded[PartitionCorrelation]],
    ) -> None:
        self._table = table
        self._partition_key = partition_key
        self._cache = cache
        self.stored = Guarded.load_cached(table.get(partition_key), PartitionCorrelation, cache, partition_key)

    def pending(self, request_id: str) -> Pending:
        stored = self._table.get(self._pending_key(request_id))
        return Pending() if stored is None else Pending.from_json(stored)

    def bucket(self, start: int) -> ExpiryBucket:
        stored = self._table.get(self._bucket_key(start))
        return ExpiryBucket() if stored is None else ExpiryBucket.from_json(stored)

    def plan(self, event: Event, verdict: Verdict, offset: int, policy: CorrelationPolicy) -> Step | None:
        """The change the record makes, or None if it was applied before (its journal is then written again,
        in case the crash came between the head and the rows)."""
        if verdict is not Verdict.DUPLICATE and offset == self.stored.applied_offset:
            self._write_rows(self.stored.value.journal)
            return None
        if not should_apply(verdict, self.stored.applied_offset, offset):
            return None
        return step(self.stored.value.head, event, policy, self)

    def commit(self, change: Step, offset: int) -> PartitionCorrelation:
        journal: dict[str, Any] = {
            self._pending_key(rid): pending.to_json() if pending else None for rid, pending in change.pending.items()
        }
        journal |= {
            self._bucket_key(start): bucket.to_json() if bucket else None
            for start, bucket in change.buckets.items()
        }
        previous = self.stored.value
        value = PartitionCorrelation(change.head, previous.totals.add(change.outcomes), MappingProxyType(journal))
        self.stored = self.stored.advance(value, offset)
        self._table[self._partition_key] = self.stored.to_json()
        self._cache[self._partition_key] = self.stored
        self._write_rows(journal)
        return value

    def _write_rows(self, rows: Mapping[str, Any]) -> None:
        for key, value in rows.items():
            if value is not None:
                self._table[key] = value
            elif key in self._table:
                del self._table[key]

    def _pending_key(self, request_id: str) -> str:
        return f"{self._partition_key}#{request_id}"

    def _bucket_key(self, start: int) -> str:
        return f"{self._partition_key}@{start}"
