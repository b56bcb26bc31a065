"""A job attributed to a worker: the unit that fees and performance are computed from.

Transcode `job-processed` events are attributed by their own `ethAddress`; AI ones by correlation with
their `job-received` partner. Either way the result is this one shape, with response time normalised to
nanoseconds (AI emits ns, transcode ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openpool.domain.events import AIJobProcessedPayload, Event, TranscodeJobProcessedPayload

NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class AttributedJob:
    event_id: str
    partition_key: str
    region: str
    node_type: str
    dt: datetime
    worker_address: str
    fees_wei: int
    compute_units: int
    response_time_ns: int
    duration_ms: int | None
    pipeline: str | None
    model_id: str | None


def transcode_job(event: Event) -> AttributedJob:
    payload = event.payload
    if not isinstance(payload, TranscodeJobProcessedPayload):
        raise TypeError(f"event {event.id} is not a transcode job-processed event")
    return AttributedJob(
        event_id=event.id,
        partition_key=event.partition_key,
        region=event.region,
        node_type=event.node_type,
        dt=event.dt,
        worker_address=payload.eth_address,
        fees_wei=payload.fees,
        compute_units=payload.compute_units,
        response_time_ns=payload.response_time_ms * NS_PER_MS,
        duration_ms=payload.duration_ms,
        pipeline=None,
        model_id=None,
    )


def ai_job(event: Event, worker_address: str) -> AttributedJob:
    payload = event.payload
    if not isinstance(payload, AIJobProcessedPayload):
        raise TypeError(f"event {event.id} is not an AI job-processed event")
    return AttributedJob(
        event_id=event.id,
        partition_key=event.partition_key,
        region=event.region,
        node_type=event.node_type,
        dt=event.dt,
        worker_address=worker_address,
        fees_wei=payload.fees,
        compute_units=payload.compute_units,
        response_time_ns=payload.response_time_ns,
        duration_ms=None,
        pipeline=payload.pipeline,
        model_id=payload.model_id,
    )
