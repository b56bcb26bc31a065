"""The correlation rows as stage 1 writes them, and a crash between any two of their writes.

After a crash the changelog holds a prefix of the writes; the records from the committed offset on are
delivered again. Whatever the crash point and the committed offset, the rows, the totals, the forwarded jobs
and the unattributed fees must end as in a run without a crash."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.correlation import CorrelationPolicy
from openpool.domain.delivery import Verdict
from openpool.domain.events import Event
from openpool.domain.jobs import AttributedJob
from stream_app.tables.correlation_value import CorrelationRows, PartitionCorrelation
from stream_app.tables.guarded import Guarded
from tests.domain.test_correlation import colliding_jobs, connected, processed, received

PK = "us-central|ai"
POLICY = CorrelationPolicy(match_window=timedelta(seconds=600), ttl=timedelta(seconds=1800))


class Changelog(dict[str, Any]):
    """A table that records every write in order, as Faust sends them to the changelog partition."""

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        super().__init__(initial or {})
        self.writes: list[tuple[str, Any]] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes.append((key, json.loads(json.dumps(value))))
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
                rows[key] = value
        return Changelog(rows)


@dataclass
class Run:
    table: Changelog = field(default_factory=Changelog)
    forwarded: dict[tuple[int, int], AttributedJob] = field(default_factory=dict)
    unattributed: set[str] = field(default_factory=set)
    last_write: list[int] = field(default_factory=list)
    """Per record, how many writes the table had after it."""

    def deliver(self, events: list[Event], start: int = 0) -> None:
        cache: dict[str, Guarded[PartitionCorrelation]] = {}
        for offset in range(start, len(events)):
            rows = CorrelationRows(self.table, PK, cache)
            change = rows.plan(events[offset], Verdict.NEW, offset, POLICY)
            if change is not None:
                for index, job in enumerate(change.outcomes.attributed):
                    assert self.forwarded.setdefault((offset, index), job) == job, "a replay forwarded another job"
                self.unattributed.update(fees.event_id for fees in change.outcomes.unattributed)
                rows.commit(change, offset)
            self.last_write.append(len(self.table.writes))


def partition_events() -> st.SearchStrategy[list[Event]]:
    ticks = st.lists(st.integers(0, 12_000).map(connected), max_size=4)
    return st.tuples(colliding_jobs(), ticks).flatmap(lambda parts: st.permutations([*parts[0], *parts[1]]))


@settings(max_examples=300, deadline=None)
@given(partition_events(), st.data())
def test_a_crash_between_any_two_writes_ends_as_a_run_without_one(events: list[Event], data: st.DataObject) -> None:
    clean = Run()
    clean.deliver(events)
    persisted = data.draw(st.integers(0, len(clean.table.writes)), label="writes persisted")
    crashed_in = next((o for o, done in enumerate(clean.last_write) if done > persisted), len(events))
    committed = data.draw(st.integers(0, crashed_in), label="committed offset")

    # A record sends its jobs and dead letters before its first write, and nothing after its last.
    sent = crashed_in + 1 if persisted > (clean.last_write[crashed_in - 1] if crashed_in else 0) else crashed_in
    recovered = Run(table=clean.table.restored(persisted))
    recovered.forwarded = {origin: job for origin, job in clean.forwarded.items() if origin[0] < sent}
    recovered.unattributed = _unattributed_before(events, sent)
    recovered.deliver(events, start=committed)

    assert dict(recovered.table) == dict(clean.table)
    assert recovered.forwarded == clean.forwarded
    assert recovered.unattributed == clean.unattributed


def _unattributed_before(events: list[Event], offset: int) -> set[str]:
    run = Run()
    run.deliver(events[:offset])
    return run.unattributed


def test_a_record_writes_the_head_and_the_rows_it_changed_however_many_halves_wait() -> None:
    waiting = [processed(f"{n:08x}", n / 10) for n in range(1_000)]
    run = Run()
    run.deliver([*waiting, received("00000007", 100)])

    last = run.table.writes[run.last_write[-2] :]
    assert [key for key, _ in last] == [PK, f"{PK}#00000007"]
    assert len(json.dumps(last[0][1])) < 4_000
    assert [job.event_id for job in run.forwarded.values()] == [waiting[7].id]
