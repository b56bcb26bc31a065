"""Stage 1: per partition key (`region|node_type`), in order — dedup, AI correlation, connections.

Thin shell: decode the record, ask the pure core what it means, write tables and topics. The order of
writes follows docs/design.md: an AI match is forwarded and acked before the correlation rows that
consumed it are written; a transcode job derives from its event alone, so a re-delivered original is simply
forwarded again and stage 2 drops the duplicate.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from functools import partial
from typing import Any

import faust

from openpool.dead_letters import DeadLetter, DeadLetterWriter
from openpool.domain import connections as connections_core
from openpool.domain import correlation as correlation_core
from openpool.domain.delivery import FileLedger, Origin, Verdict, admit, should_apply
from openpool.domain.event_files import Rejection, loads_bounded, parse_event_object
from openpool.domain.events import Event, EventType, NodeType
from openpool.domain.jobs import AttributedJob, transcode_job
from openpool.metrics import STREAM_DUPLICATES, STREAM_EVENTS, STREAM_UNMATCHED_RECEIVED
from stream_app.agents.failures import process_or_dead_letter
from stream_app.app import StreamApp
from stream_app.forwarded_jobs import ForwardedJob
from stream_app.source_position import SourcePosition
from stream_app.tables.correlation_value import CorrelationRows, PartitionCorrelation
from stream_app.tables.guarded import Guarded

log = logging.getLogger(__name__)

_CONNECTION_EVENTS = {EventType.WORKER_CONNECTED, EventType.WORKER_DISCONNECTED, EventType.ORCHESTRATOR_RESET}
_CORRELATED_EVENTS = {EventType.JOB_RECEIVED, EventType.JOB_PROCESSED}


def register(stream_app: StreamApp, dead_letters: DeadLetterWriter) -> None:
    app = stream_app.app
    settings = stream_app.settings
    connections_topic = app.topic(settings.topics.connections, key_serializer="raw", value_serializer="raw")
    pool_totals_topic = app.topic(settings.topics.pool_totals, key_serializer="raw", value_serializer="raw")
    policy = correlation_core.CorrelationPolicy.from_settings(settings)
    correlation_cache: dict[str, Guarded[PartitionCorrelation]] = {}
    connections_cache: dict[str, Guarded[connections_core.ConnectionState]] = {}

    async def forward(jobs: list[AttributedJob], offset: int, *, wait: bool) -> None:
        acks = [
            await stream_app.jobs_topic.send(
                key=job.worker_address.encode(), value=ForwardedJob(Origin(offset, index), job).to_bytes()
            )
            for index, job in enumerate(jobs)
        ]
        if wait:
            for ack in acks:
                await ack

    async def dead_letter(letter: DeadLetter) -> None:
        await (await dead_letters.send(letter))

    async def handle(message: Any) -> None:
        source = SourcePosition.from_headers(message.headers)
        parsed = _decode(message.value)
        if isinstance(parsed, Rejection):
            await dead_letter(
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
            )
            return
        event = parsed
        STREAM_EVENTS.labels(event_type=event.event_type.value).inc()
        stored_ledger = stream_app.file_ledger.get(source.ledger_key)
        previous = FileLedger.from_json(stored_ledger) if stored_ledger is not None else FileLedger()
        verdict, ledger = admit(previous, source.position, message.offset)
        if verdict is Verdict.DUPLICATE:
            STREAM_DUPLICATES.inc()
        elif event.event_type in _CORRELATED_EVENTS and event.node_type == NodeType.AI:
            await correlate(event, source, verdict, message.offset)
        elif event.event_type is EventType.JOB_PROCESSED:
            await forward([transcode_job(event)], message.offset, wait=False)
        elif event.event_type in _CONNECTION_EVENTS:
            await connect(event, source, verdict, message.offset)
        if ledger != previous:
            stream_app.file_ledger[source.ledger_key] = ledger.to_json()

    async def correlate(event: Event, source: SourcePosition, verdict: Verdict, offset: int) -> None:
        rows = CorrelationRows(stream_app.correlation, event.partition_key, correlation_cache)
        change = rows.plan(event, verdict, offset, policy)
        if change is None:
            return
        outcomes = change.outcomes
        await forward(list(outcomes.attributed), offset, wait=True)
        for unattributed in outcomes.unattributed:
            await dead_letter(_unattributed(unattributed, source))
        STREAM_UNMATCHED_RECEIVED.inc(len(outcomes.unmatched))
        value = rows.commit(change, offset)
        await pool_totals_topic.send(key=event.partition_key.encode(), value=json.dumps(value.read_model()).encode())

    async def connect(event: Event, source: SourcePosition, verdict: Verdict, offset: int) -> None:
        stored = Guarded.load_cached(
            stream_app.connections.get(event.partition_key),
            connections_core.ConnectionState,
            connections_cache,
            event.partition_key,
        )
        if not should_apply(verdict, stored.applied_offset, offset):
            return
        state = connections_core.apply(stored.value, event, source.key, source.position)
        advanced = stored.advance(state, offset)
        stream_app.connections[event.partition_key] = advanced.to_json()
        connections_cache[event.partition_key] = advanced
        view = [worker.to_json() for worker in connections_core.presence(state, event.partition_key)]
        await connections_topic.send(key=event.partition_key.encode(), value=json.dumps(view).encode())

    @app.agent(stream_app.events_topic, name=f"{settings.app_id}-partition-events", concurrency=1)
    async def partition_events(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            message = record.message
            await process_or_dead_letter(partial(handle, message), message, dead_letters, "stream", stream_app)


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


def _decode(value: bytes | None) -> Event | Rejection:
    if value is None:
        return Rejection("missing_value", "record without a value", None, b"")
    try:
        obj = loads_bounded(value)
    except (ValueError, RecursionError) as error:
        return Rejection("invalid_json", str(error)[:200], None, value)
    return parse_event_object(obj)
