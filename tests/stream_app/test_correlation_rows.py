"""The correlation rows as stage 1's checkpoints write them, and a crash between any two of their writes.

After a crash the changelog holds a prefix of the writes; the records from the committed offset (the start of
a batch whose checkpoint completed, or of the batch under way) are delivered again, in batches that may end
elsewhere. Whatever the crash point, the rows, the totals, the forwarded jobs and the unattributed fees must
end as in a run without a crash."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.correlation import CorrelationPolicy, bucket_start
from openpool.domain.delivery import Verdict
from openpool.domain.events import Event
from openpool.domain.jobs import AttributedJob
from stream_app.tables.correlation_value import CorrelationRows, checkpoint_writes, correlation_write_back
from tests.domain.test_correlation import T0, colliding_jobs, connected, processed, received

PK = "us-central|ai"
POLICY = CorrelationPolicy(match_window=timedelta(seconds=600), ttl=timedelta(seconds=1800))


class Changelog(dict[str, Any]):
    """A table that records every write in order, as Faust sends them to the changelog partition."""

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        super().__init__(initial or {})
        self.writes: list[tuple[str, Any]] = []

    def __setitem__(self, key: str, value: bytes) -> None:
        self.writes.append((key, json.loads(value)))
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.writes.append((key, None))
        super().__delitem__(key)

    def restored(self, writes: int) -> Changelog:
        """The table a worker restores from a changelog that got only the first `writes` writes."""
        rows: dict[str, Any] = {}
        for key, value in self.writes[:writes]:
            if value is None:
                rows.pop(key, None)
            else:
                rows[key] = json.dumps(value).encode()
        return Changelog(rows)


@dataclass
class Run:
    """Stage 1's correlation over one partition key, in batches, each ended by a checkpoint."""

    table: Changelog = field(default_factory=Changelog)
    forwarded: dict[tuple[int, int], AttributedJob] = field(default_factory=dict)
    unattributed: set[str] = field(default_factory=set)
    checkpoints: list[tuple[int, int, int]] = field(default_factory=list)
    """Per batch: its first offset, the table's writes before its checkpoint, and after it."""

    def deliver(self, events: list[Event], sizes: list[int], start: int = 0) -> None:
        rows = correlation_write_back(self.table)
        offset, batch = start, 0
        while offset < len(events):
            end = min(offset + sizes[batch % len(sizes)], len(events))
            for at in range(offset, end):
                correlation = CorrelationRows(rows, PK)
                change = correlation.plan(events[at], Verdict.NEW, at, POLICY)
                if change is not None:
                    for index, job in enumerate(change.outcomes.attributed):
                        assert self.forwarded.setdefault((at, index), job) == job, "a replay forwarded another job"
                    self.unattributed.update(fees.event_id for fees in change.outcomes.unattributed)
                    correlation.commit(change, at)
            before = len(self.table.writes)
            for key, stored, _ in checkpoint_writes(rows):
                rows.write(key, stored)
            rows.checkpointed()
            self.checkpoints.append((offset, before, len(self.table.writes)))
            offset, batch = end, batch + 1

    def rows(self) -> dict[str, Any]:
        """The table without the heads' journals, which depend on where batches ended."""
        return {key: _without_journal(json.loads(value)) for key, value in self.table.items()}


def _without_journal(value: Any) -> Any:
    if isinstance(value, dict) and "applied_offset" in value:
        return {**value, "state": {**value["state"], "journal": None}}
    return value


def partition_events() -> st.SearchStrategy[list[Event]]:
    ticks = st.lists(st.integers(0, 12_000).map(connected), max_size=4)
    return st.tuples(colliding_jobs(), ticks).flatmap(lambda parts: st.permutations([*parts[0], *parts[1]]))


BATCH_SIZES = st.lists(st.integers(1, 8), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(partition_events(), BATCH_SIZES, BATCH_SIZES, st.data())
def test_a_crash_between_any_two_writes_of_a_checkpoint_ends_as_a_run_without_one(
    events: list[Event], sizes: list[int], resumed_sizes: list[int], data: st.DataObject
) -> None:
    clean = Run()
    clean.deliver(events, sizes)
    persisted = data.draw(st.integers(0, len(clean.table.writes)), label="writes persisted")
    # The batch the crash came in: the first whose checkpoint did not complete (none: the run had ended).
    crashed = next((n for n, (_, _, after) in enumerate(clean.checkpoints) if after > persisted), None)
    batch_starts = [first for first, _, _ in clean.checkpoints]
    crashed_at = len(events) if crashed is None else batch_starts[crashed]
    # Faust flushes every write before it commits, so the committed offset is the start of a batch no later.
    committed = data.draw(
        st.sampled_from([*[s for s in batch_starts if s <= crashed_at], crashed_at]), label="committed"
    )
    # A checkpoint sends the batch's jobs and dead letters and awaits them before its first write.
    if crashed is None:
        sent = len(events)
    elif persisted > clean.checkpoints[crashed][1]:
        sent = next((first for first, _, _ in clean.checkpoints[crashed + 1 :]), len(events))
    else:
        sent = data.draw(
            st.sampled_from([crashed_at, next((f for f, _, _ in clean.checkpoints[crashed + 1 :]), len(events))])
        )

    recovered = Run(table=clean.table.restored(persisted))
    recovered.forwarded = {origin: job for origin, job in clean.forwarded.items() if origin[0] < sent}
    recovered.unattributed = _unattributed_before(events, sent)
    recovered.deliver(events, resumed_sizes, start=committed)

    assert recovered.rows() == clean.rows()
    assert recovered.forwarded == clean.forwarded
    assert recovered.unattributed == clean.unattributed


def _unattributed_before(events: list[Event], offset: int) -> set[str]:
    run = Run()
    run.deliver(events[:offset], [1])
    return run.unattributed


def test_a_checkpoint_writes_the_head_and_the_rows_its_batch_changed_however_many_halves_wait() -> None:
    waiting = [processed(f"{n:08x}", n / 10) for n in range(1_000)]
    run = Run()
    run.deliver([*waiting, received("00000007", 100)], [500, 500, 1])

    _, before, after = run.checkpoints[-1]
    last = run.table.writes[before:after]
    assert [key for key, _ in last] == [PK, f"{PK}#00000007"]
    assert len(json.dumps(last[0][1])) < 4_000
    assert [job.event_id for job in run.forwarded.values()] == [waiting[7].id]


def test_pending_halves_matched_within_one_batch_are_never_written() -> None:
    run = Run()
    run.deliver([processed("0000000a", 1), received("0000000a", 2)], [2])

    # The expiry bucket keeps its entry until it expires (a match does not rewrite it); the halves are gone.
    assert [key for key, _ in run.table.writes] == [PK, f"{PK}@{bucket_start(T0)}"]
    assert len(run.forwarded) == 1
