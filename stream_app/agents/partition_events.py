"""Stage 1: per partition key (`region|node_type`), in order — dedup, AI correlation, connections.

Thin shell: decode the record, ask the pure core what it means, hold the table writes and outputs for the
batch's checkpoint (`stream_app.checkpoint`). The checkpoint sends the forwarded jobs and dead letters and
awaits their acks before it writes any table value, so a crash can duplicate a forward (stage 2 drops it) but
never lose one (docs/design.md, rule 3); a transcode job derives from its event alone, so a re-delivered
original is simply forwarded again.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust

from openpool.dead_letters import DeadLetter, DeadLetterWriter
from openpool.domain import connections as connections_core
from openpool.domain import correlation as correlation_core
from openpool.domain.delivery import FileLedger, Origin, Verdict, admit, should_apply
from openpool.domain.event_files import Rejection, decode_event_record
from openpool.domain.events import Event, EventType, NodeType
from openpool.domain.jobs import AttributedJob, transcode_job
from openpool.metrics import STREAM_DUPLICATES, STREAM_EVENTS, STREAM_UNMATCHED_RECEIVED
from stream_app.app import StreamApp
from stream_app.checkpoint import Checkpointer
from stream_app.forwarded_jobs import ForwardedJob
from stream_app.source_position import SourcePosition
from stream_app.tables.correlation_value import (
    CorrelationRows,
    PartitionCorrelation,
    checkpoint_writes,
    correlation_write_back,
)
from stream_app.tables.guarded import Guarded
from stream_app.tables.write_back import WriteBack

_CONNECTION_EVENTS = {EventType.WORKER_CONNECTED, EventType.WORKER_DISCONNECTED, EventType.ORCHESTRATOR_RESET}
_CORRELATED_EVENTS = {EventType.JOB_RECEIVED, EventType.JOB_PROCESSED}

MAX_CORRELATION_WRITES = 600
"""A partition key's head carries the rows its batch wrote as a journal: past this many rows the batch is
checkpointed early, which keeps a head record far below the producer's 1 MB request limit (a pending row is
a few hundred bytes)."""

Send = Callable[[str, bytes, bytes | None], Any]
"""(topic, key, value) -> awaitable returning the acknowledgement future."""


def _connections(stored: Any) -> Guarded[connections_core.ConnectionState]:
    return Guarded.load(stored, connections_core.ConnectionState)


def _encode_connections(value: Guarded[connections_core.ConnectionState]) -> Any:
    return value.to_json()


class PartitionEvents:
    """Stage 1's work on one batch: what each record changes, held until the checkpoint writes it."""

    name = "stream"

    def __init__(self, stream_app: StreamApp, send: Send) -> None:
        settings = stream_app.settings
        self._send = send
        self._topics = settings.topics
        self._policy = correlation_core.CorrelationPolicy.from_settings(settings)
        self._ledgers: WriteBack[FileLedger] = WriteBack(
            stream_app.file_ledger, FileLedger.from_json, FileLedger.to_json
        )
        self._connections: WriteBack[Guarded[connections_core.ConnectionState]] = WriteBack(
            stream_app.connections, _connections, _encode_connections
        )
        self._correlation = correlation_write_back(stream_app.correlation)
        self._forwards: list[tuple[bytes, bytes]] = []
        self._pool_totals: dict[str, PartitionCorrelation] = {}
        self._presence: dict[str, connections_core.ConnectionState] = {}
        self._read: Counter[str] = Counter()
        """Events read by type, added to the metric once per batch."""

    def apply(self, event: Any) -> list[DeadLetter]:
        message = event.message
        source = SourcePosition.from_headers(message.headers)
        parsed = decode_event_record(message.value)
        if isinstance(parsed, Rejection):
            return [
                DeadLetter(
                    parsed.reason,
                    parsed.detail,
                    "stream",
                    source.key,
                    source.version,
                    source.position,
                    parsed.raw,
                    datetime.now(UTC),
                )
            ]
        self._read[parsed.event_type.value] += 1
        previous = self._ledgers.get(source.ledger_key) or FileLedger()
        verdict, ledger = admit(previous, source.position, message.offset)
        letters: list[DeadLetter] = []
        if verdict is Verdict.DUPLICATE:
            STREAM_DUPLICATES.inc()
        elif parsed.event_type in _CORRELATED_EVENTS and parsed.node_type == NodeType.AI:
            letters = self._correlate(parsed, source, verdict, event)
        elif parsed.event_type is EventType.JOB_PROCESSED:
            self._forward([transcode_job(parsed)], message.offset)
        elif parsed.event_type in _CONNECTION_EVENTS:
            self._connect(parsed, source, verdict, event)
        if ledger != previous:
            self._ledgers.put(source.ledger_key, ledger, event)
        return letters

    def _forward(self, jobs: tuple[AttributedJob, ...] | list[AttributedJob], offset: int) -> None:
        self._forwards.extend(
            (job.worker_address.encode(), ForwardedJob(Origin(offset, index), job).to_bytes())
            for index, job in enumerate(jobs)
        )

    def _correlate(self, event: Event, source: SourcePosition, verdict: Verdict, record: Any) -> list[DeadLetter]:
        offset = record.message.offset
        rows = CorrelationRows(self._correlation, event.partition_key, record)
        change = rows.plan(event, verdict, offset, self._policy)
        if change is None:
            return []
        outcomes = change.outcomes
        letters = [_unattributed(unattributed, source) for unattributed in outcomes.unattributed]
        self._pool_totals[event.partition_key] = rows.commit(change, offset)
        self._forward(outcomes.attributed, offset)
        STREAM_UNMATCHED_RECEIVED.inc(len(outcomes.unmatched))
        return letters

    def _connect(self, event: Event, source: SourcePosition, verdict: Verdict, record: Any) -> None:
        pk = event.partition_key
        stored = self._connections.get(pk) or Guarded(connections_core.ConnectionState(), -1)
        offset = record.message.offset
        if not should_apply(verdict, stored.applied_offset, offset):
            return
        state = connections_core.apply(stored.value, event, source.key, source.position)
        self._connections.put(pk, stored.advance(state, offset), record)
        self._presence[pk] = state

    def needs_checkpoint(self) -> bool:
        return self._correlation.changed >= MAX_CORRELATION_WRITES

    async def send_outputs(self) -> list[asyncio.Future[Any]]:
        topic = self._topics.attributed_jobs
        return [await self._send(topic, key, value) for key, value in self._forwards]

    def write_tables(self, make_current: Callable[[Any], None]) -> None:
        for ledger_key, stored, event, _ in self._ledgers.writes():
            make_current(event)
            self._ledgers.write(ledger_key, stored)
        for pk, stored, event, _ in self._connections.writes():
            make_current(event)
            self._connections.write(pk, stored)
        for key, stored, event in checkpoint_writes(self._correlation):
            make_current(event)
            self._correlation.write(key, stored)

    async def publish_read_models(self) -> None:
        for pk, totals in self._pool_totals.items():
            await self._send(self._topics.pool_totals, pk.encode(), json.dumps(totals.read_model()).encode())
        for pk, state in self._presence.items():
            view = [worker.to_json() for worker in connections_core.presence(state, pk)]
            await self._send(self._topics.connections, pk.encode(), json.dumps(view).encode())

    def checkpointed(self) -> None:
        for table in self._tables():
            table.checkpointed()
        self._clear_outputs()

    def abandon(self) -> None:
        for table in self._tables():
            table.abandon()
        self._clear_outputs()

    def forget_clean(self) -> None:
        for table in self._tables():
            table.forget_clean()

    def _tables(self) -> tuple[WriteBack[Any], ...]:
        return (self._ledgers, self._connections, self._correlation)

    def _clear_outputs(self) -> None:
        for event_type, count in self._read.items():
            STREAM_EVENTS.labels(event_type=event_type).inc(count)
        self._read.clear()
        self._forwards.clear()
        self._pool_totals.clear()
        self._presence.clear()


def register(stream_app: StreamApp, dead_letters: DeadLetterWriter, send: Send) -> PartitionEvents:
    app = stream_app.app
    stage = PartitionEvents(stream_app, send)

    @app.agent(stream_app.events_topic, name=f"{stream_app.settings.app_id}-partition-events", concurrency=1)
    async def partition_events(stream: faust.StreamT[bytes]) -> None:
        await Checkpointer(stage, stream, stream_app.order, stream_app.lag, dead_letters).run()

    return stage


def _unattributed(outcome: correlation_core.UnattributedFees, source: SourcePosition) -> DeadLetter:
    detail = {
        "event_id": outcome.event_id,
        "request_id": outcome.request_id,
        "fees_wei": outcome.fees_wei,
        "dt": outcome.dt.isoformat(),
        "pipeline": outcome.pipeline,
        "model_id": outcome.model_id,
    }
    return DeadLetter(
        "unattributed_fees",
        json.dumps(detail),
        "stream",
        source.key,
        source.version,
        None,
        json.dumps(detail).encode(),
        datetime.now(UTC),
    )
