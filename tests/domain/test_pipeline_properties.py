"""The pure core composed as the agents compose it, without a broker: any order of file publications, any
republication of files (whole or partial) and any Kafka re-delivery give the same fees, the same attributed
jobs and the same connections as one clean pass over the distinct events."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain import connections as connections_core
from openpool.domain.commission import CommissionRate
from openpool.domain.correlation import CorrelationPolicy, CorrelationState, attribute
from openpool.domain.delivery import FileLedger, Verdict, admit, should_apply
from openpool.domain.earnings import EarningsEntry, apply_job
from openpool.domain.event_files import SourceKey, parse_event_file
from openpool.domain.events import Event, EventType, NodeType
from openpool.domain.jobs import AttributedJob
from tests.stream_app.pipeline import pool_files

RATE = CommissionRate.from_decimal(Decimal("0.25"))
POLICY = CorrelationPolicy(match_window=timedelta(minutes=10), ttl=timedelta(days=1))
_CONNECTION_TYPES = {EventType.WORKER_CONNECTED, EventType.WORKER_DISCONNECTED, EventType.ORCHESTRATOR_RESET}


@dataclass
class Pipeline:
    """Stage 1 and stage 2 state as the agents keep it, each value with its own guard."""

    ledgers: dict[str, FileLedger] = field(default_factory=dict)
    correlation: dict[str, tuple[int, CorrelationState]] = field(default_factory=dict)
    connections: dict[str, tuple[int, connections_core.ConnectionState]] = field(default_factory=dict)
    earnings: dict[tuple[str, str], EarningsEntry] = field(default_factory=dict)
    applied_jobs: set[tuple[str, int, int]] = field(default_factory=set)

    def record(self, offset: int, source: str, position: int, event: Event) -> None:
        previous = self.ledgers.get(source, FileLedger())
        verdict, self.ledgers[source] = admit(previous, position, offset)
        if verdict is Verdict.DUPLICATE:
            return
        pk = event.partition_key
        if event.node_type == NodeType.AI and event.event_type in (EventType.JOB_RECEIVED, EventType.JOB_PROCESSED):
            applied, state = self.correlation.get(pk, (-1, CorrelationState()))
            if should_apply(verdict, applied, offset):
                state, outcomes = attribute(state, event, POLICY)
                self.forward(list(outcomes.attributed), pk, offset)
                self.correlation[pk] = (offset, state)
        elif event.event_type is EventType.JOB_PROCESSED:
            _, outcomes = attribute(CorrelationState(), event, POLICY)
            self.forward(list(outcomes.attributed), pk, offset)
        elif event.event_type in _CONNECTION_TYPES:
            applied, conns = self.connections.get(pk, (-1, connections_core.ConnectionState()))
            if should_apply(verdict, applied, offset):
                self.connections[pk] = (offset, connections_core.apply(conns, event, source, position))

    def forward(self, jobs: list[AttributedJob], pk: str, offset: int) -> None:
        for index, job in enumerate(jobs):
            if (pk, offset, index) in self.applied_jobs:
                continue
            self.applied_jobs.add((pk, offset, index))
            slot = (job.worker_address, job.partition_key)
            self.earnings[slot] = apply_job(self.earnings.get(slot), job, RATE)

    def outcome(self) -> tuple[dict[tuple[str, str], EarningsEntry], dict[str, list[dict[str, object]]]]:
        presence = {
            pk: [worker.to_json() for worker in connections_core.presence(state, pk)]
            for pk, (_, state) in self.connections.items()
        }
        return self.earnings, presence


def _records(files: dict[str, bytes]) -> dict[str, list[tuple[int, Event]]]:
    parsed: dict[str, list[tuple[int, Event]]] = {}
    for key, body in files.items():
        source = SourceKey.parse(key)
        assert source is not None
        parsed[key] = [(item.position, item.event) for item in parse_event_file(source, body).events]
    return parsed


FILES = pool_files(seed=5, minutes=3, transcode_jobs=6, ai_jobs=6)
RECORDS = _records(FILES)


def _clean_pass() -> tuple[dict[tuple[str, str], EarningsEntry], dict[str, list[dict[str, object]]]]:
    pipeline = Pipeline()
    offsets: defaultdict[str, int] = defaultdict(int)
    for key in sorted(RECORDS):
        for position, event in RECORDS[key]:
            pk = event.partition_key
            pipeline.record(offsets[pk], key, position, event)
            offsets[pk] += 1
    return pipeline.outcome()


CLEAN = _clean_pass()


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=0, max_value=4))
def test_any_file_order_republication_and_redelivery_give_the_clean_passs_fees_and_connections(
    seed: int, republications: int
) -> None:
    shuffler = Random(seed)
    publications = [key for key in RECORDS] + [shuffler.choice(list(RECORDS)) for _ in range(republications)]
    shuffler.shuffle(publications)
    pipeline = Pipeline()
    log: defaultdict[str, list[tuple[str, int, Event]]] = defaultdict(list)  # the events topic, per partition key
    for key in publications:
        records = RECORDS[key]
        cut = shuffler.randint(1, len(records)) if shuffler.random() < 0.3 else len(records)  # a crashed bridge
        for position, event in records[:cut]:
            log[event.partition_key].append((key, position, event))
        if cut < len(records):
            publications.append(key)  # the restarted bridge publishes the whole file again
    for records_of_pk in log.values():
        offset = 0
        while offset < len(records_of_pk):
            key, position, event = records_of_pk[offset]
            pipeline.record(offset, key, position, event)
            if shuffler.random() < 0.05:  # a worker crash: Kafka re-delivers from an earlier commit
                offset = max(0, offset - shuffler.randint(1, 20))
            offset += 1
    assert pipeline.outcome() == CLEAN


def test_the_clean_pass_attributes_every_matched_ai_job() -> None:
    earnings, _ = CLEAN
    ai_jobs = sum(entry.job_count for (_, pk), entry in earnings.items() if pk.endswith("|ai"))
    assert ai_jobs == sum(
        1
        for records in RECORDS.values()
        for _, e in records
        if e.node_type == NodeType.AI and e.event_type is EventType.JOB_PROCESSED
    )
