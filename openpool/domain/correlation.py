"""AI correlation: an AI `job-processed` names no worker; its `job-received` partner (same requestID) does.

Either half may arrive first, so each waits in the state for the other. requestIDs are only 32 bits, so a
partner must also be close in event time, and a half that waits longer than the TTL (in event time, against
the highest event time seen) leaves the state as an outcome the caller accounts for: the fees of a processed
job nobody claimed, or a received job whose worker never finished it. Nothing is dropped silently.

Duplicates of a half that is still waiting are ignored here; duplicates of halves already matched are the
file ledger's to stop (`delivery.admit`), since remembering every match for a TTL would make the state grow
with the job rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from openpool.domain.event_files import parse_event_object
from openpool.domain.events import AIJobProcessedPayload, Event, JobReceivedPayload, TranscodeJobProcessedPayload
from openpool.domain.jobs import AttributedJob, ai_job, transcode_job
from openpool.settings import Settings


@dataclass(frozen=True, slots=True)
class CorrelationPolicy:
    match_window: timedelta = timedelta(seconds=600)
    """The largest event-time distance between the two halves of one job."""
    ttl: timedelta = timedelta(seconds=3600)
    """How long, in event time, a half waits for its partner."""

    def __post_init__(self) -> None:
        if self.match_window <= timedelta(0):
            raise ValueError("the match window must be positive")
        if self.ttl < self.match_window:
            raise ValueError("the TTL must not be shorter than the match window, or partners expire before they match")

    @classmethod
    def from_settings(cls, settings: Settings) -> CorrelationPolicy:
        return cls(
            match_window=timedelta(seconds=settings.correlation_match_window_seconds),
            ttl=timedelta(seconds=settings.correlation_ttl_seconds),
        )


@dataclass(frozen=True, slots=True)
class UnattributedFees:
    """A processed AI job whose received partner never came: its fees go to the dead-letter topic."""

    event_id: str
    request_id: str
    fees_wei: int
    dt: datetime
    pipeline: str
    model_id: str


@dataclass(frozen=True, slots=True)
class UnmatchedReceived:
    """A job a worker received but that was never processed (usually the worker returned an error)."""

    event_id: str
    request_id: str
    worker_address: str
    dt: datetime
    pipeline: str
    model_id: str


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What one event settled: jobs to forward, and halves that expired, each in (dt, event id) order."""

    attributed: tuple[AttributedJob, ...] = ()
    unattributed: tuple[UnattributedFees, ...] = ()
    unmatched: tuple[UnmatchedReceived, ...] = ()


_Waiting = Mapping[str, tuple[Event, ...]]


def _nothing_waiting() -> _Waiting:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CorrelationState:
    """Halves waiting for their partner, by requestID, each list in (dt, event id) order."""

    watermark: datetime | None = None
    """The highest event time seen in the partition."""
    received: _Waiting = field(default_factory=_nothing_waiting)
    processed: _Waiting = field(default_factory=_nothing_waiting)

    @property
    def held_fees_wei(self) -> int:
        return sum(_processed_payload(event).fees for events in self.processed.values() for event in events)

    def to_json(self) -> dict[str, Any]:
        return {
            "watermark": None if self.watermark is None else self.watermark.isoformat(),
            "received": _waiting_to_json(self.received),
            "processed": _waiting_to_json(self.processed),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CorrelationState:
        watermark = data["watermark"]
        return cls(
            watermark=None if watermark is None else datetime.fromisoformat(watermark),
            received=_waiting_from_json(data["received"], JobReceivedPayload),
            processed=_waiting_from_json(data["processed"], AIJobProcessedPayload),
        )


def attribute(state: CorrelationState, event: Event, policy: CorrelationPolicy) -> tuple[CorrelationState, Outcomes]:
    """Apply one event of the partition: the jobs it attributes and the halves its event time expired.

    Every event moves event time forward, so a connection event may expire halves too."""
    payload = event.payload
    attributed: tuple[AttributedJob, ...] = ()
    if isinstance(payload, TranscodeJobProcessedPayload):
        attributed = (transcode_job(event),)
    elif isinstance(payload, JobReceivedPayload):
        state, attributed = _on_received(state, event, payload, policy.match_window)
    elif isinstance(payload, AIJobProcessedPayload):
        state, attributed = _on_processed(state, event, payload, policy.match_window)
    return _expire(state, event.dt, policy.ttl, attributed)


def _on_received(
    state: CorrelationState, event: Event, payload: JobReceivedPayload, window: timedelta
) -> tuple[CorrelationState, tuple[AttributedJob, ...]]:
    request_id = payload.request_id
    if _is_waiting(state.received, request_id, event.id):
        return state, ()
    partner = _closest(state.processed.get(request_id, ()), event.dt, window)
    if partner is None:
        return replace(state, received=_with(state.received, request_id, event)), ()
    job = ai_job(partner, payload.eth_address)
    return replace(state, processed=_without(state.processed, request_id, partner)), (job,)


def _on_processed(
    state: CorrelationState, event: Event, payload: AIJobProcessedPayload, window: timedelta
) -> tuple[CorrelationState, tuple[AttributedJob, ...]]:
    request_id = payload.request_id
    if _is_waiting(state.processed, request_id, event.id):
        return state, ()
    partner = _closest(state.received.get(request_id, ()), event.dt, window)
    if partner is None:
        return replace(state, processed=_with(state.processed, request_id, event)), ()
    job = ai_job(event, _received_payload(partner).eth_address)
    return replace(state, received=_without(state.received, request_id, partner)), (job,)


def _closest(candidates: tuple[Event, ...], dt: datetime, window: timedelta) -> Event | None:
    """The candidate closest in time; candidates are in (dt, event id) order, so the first of equals wins."""
    in_window = [candidate for candidate in candidates if abs(candidate.dt - dt) <= window]
    if not in_window:
        return None
    return min(in_window, key=lambda candidate: abs(candidate.dt - dt))


def _expire(
    state: CorrelationState, dt: datetime, ttl: timedelta, attributed: tuple[AttributedJob, ...]
) -> tuple[CorrelationState, Outcomes]:
    watermark = dt if state.watermark is None else max(state.watermark, dt)
    horizon = watermark - ttl
    received, expired_received = _split_expired(state.received, horizon)
    processed, expired_processed = _split_expired(state.processed, horizon)
    outcomes = Outcomes(
        attributed=attributed,
        unattributed=tuple(_unattributed(event) for event in sorted(expired_processed, key=_event_order)),
        unmatched=tuple(_unmatched(event) for event in sorted(expired_received, key=_event_order)),
    )
    return CorrelationState(watermark=watermark, received=received, processed=processed), outcomes


def _event_order(event: Event) -> tuple[datetime, str]:
    return event.dt, event.id


def _unmatched(event: Event) -> UnmatchedReceived:
    payload = _received_payload(event)
    return UnmatchedReceived(
        event_id=event.id,
        request_id=payload.request_id,
        worker_address=payload.eth_address,
        dt=event.dt,
        pipeline=payload.pipeline,
        model_id=payload.model_id,
    )


def _unattributed(event: Event) -> UnattributedFees:
    payload = _processed_payload(event)
    return UnattributedFees(
        event_id=event.id,
        request_id=payload.request_id,
        fees_wei=payload.fees,
        dt=event.dt,
        pipeline=payload.pipeline,
        model_id=payload.model_id,
    )


def _split_expired(waiting: _Waiting, horizon: datetime) -> tuple[_Waiting, list[Event]]:
    kept: dict[str, tuple[Event, ...]] = {}
    expired: list[Event] = []
    for request_id, events in waiting.items():
        alive: list[Event] = []
        for event in events:
            (alive if event.dt >= horizon else expired).append(event)
        if alive:
            kept[request_id] = tuple(alive)
    return (MappingProxyType(kept), expired) if expired else (waiting, [])


def _is_waiting(waiting: _Waiting, request_id: str, event_id: str) -> bool:
    return any(event.id == event_id for event in waiting.get(request_id, ()))


def _with(waiting: _Waiting, request_id: str, event: Event) -> _Waiting:
    events = tuple(sorted((*waiting.get(request_id, ()), event), key=_event_order))
    return MappingProxyType({**waiting, request_id: events})


def _without(waiting: _Waiting, request_id: str, event: Event) -> _Waiting:
    remaining = tuple(e for e in waiting[request_id] if e.id != event.id)
    updated = {key: events for key, events in waiting.items() if key != request_id}
    if remaining:
        updated[request_id] = remaining
    return MappingProxyType(updated)


def _received_payload(event: Event) -> JobReceivedPayload:
    if not isinstance(event.payload, JobReceivedPayload):
        raise TypeError(f"event {event.id} is not a job-received event")
    return event.payload


def _processed_payload(event: Event) -> AIJobProcessedPayload:
    if not isinstance(event.payload, AIJobProcessedPayload):
        raise TypeError(f"event {event.id} is not an AI job-processed event")
    return event.payload


def _waiting_to_json(waiting: _Waiting) -> dict[str, list[dict[str, Any]]]:
    return {request_id: [event.to_envelope() for event in events] for request_id, events in sorted(waiting.items())}


def _waiting_from_json(
    data: Mapping[str, Any], payload_type: type[JobReceivedPayload] | type[AIJobProcessedPayload]
) -> _Waiting:
    waiting: dict[str, tuple[Event, ...]] = {}
    for request_id, envelopes in data.items():
        events = []
        for envelope in envelopes:
            event = parse_event_object(envelope)
            if not isinstance(event, Event) or not isinstance(event.payload, payload_type):
                raise ValueError(f"stored correlation entry for {request_id!r} is not a {payload_type.__name__}")
            events.append(event)
        waiting[request_id] = tuple(events)
    return MappingProxyType(waiting)
