"""AI correlation: an AI `job-processed` names no worker; its `job-received` partner (same requestID) does.

Either half may arrive first, so each waits in the state for the other. requestIDs are only 32 bits, so a
partner must also be close in event time, and a half that waits longer than the TTL (in event time, against
the highest event time seen) leaves the state as an outcome the caller accounts for: the fees of a processed
job nobody claimed, or a received job whose worker never finished it. Nothing is dropped silently.

Duplicates of a half that is still waiting are ignored here; duplicates of halves already matched are the
file ledger's to stop (`delivery.admit`), since remembering every match for a TTL would make the state grow
with the job rate.

The state is kept as separate values so that one event touches only a few: the halves pending under each
requestID, an expiry index of event-time buckets naming the requestIDs that began waiting in each, and a
small head (watermark, bucket starts, held totals). Rewriting the whole state per event made stage 1's cost
per event grow with the halves waiting (docs/scale.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

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


EXPIRY_BUCKET_SECONDS = 10
"""Width, in event time, of the expiry index's buckets: the head lists one start per bucket in the TTL."""


@dataclass(frozen=True, slots=True)
class Pending:
    """The halves waiting under one requestID, each tuple in (dt, event id) order."""

    received: tuple[Event, ...] = ()
    processed: tuple[Event, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.received or self.processed)

    def to_json(self) -> dict[str, Any]:
        return {
            "received": [event.to_envelope() for event in self.received],
            "processed": [event.to_envelope() for event in self.processed],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pending:
        return cls(
            received=_events_from_json(data["received"], JobReceivedPayload),
            processed=_events_from_json(data["processed"], AIJobProcessedPayload),
        )


@dataclass(frozen=True, slots=True)
class ExpiryBucket:
    """The requestIDs of halves that began waiting in one bucket of event time, with their event times.

    An entry is not removed when its half is matched: expiry reads the requestID's pending halves and finds
    nothing, which keeps a match from rewriting the bucket."""

    entries: tuple[tuple[str, datetime], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.entries)

    def to_json(self) -> list[list[str]]:
        return [[request_id, dt.isoformat()] for request_id, dt in self.entries]

    @classmethod
    def from_json(cls, data: Sequence[Sequence[str]]) -> ExpiryBucket:
        return cls(tuple((str(request_id), datetime.fromisoformat(dt)) for request_id, dt in data))


@dataclass(frozen=True, slots=True)
class Head:
    """What one partition key keeps besides its pending halves: event time, the expiry index, the held totals."""

    watermark: datetime | None = None
    """The highest event time seen in the partition."""
    buckets: tuple[int, ...] = ()
    """Starts (epoch seconds, ascending) of the expiry buckets that have entries."""
    held_jobs: int = 0
    held_fees_wei: int = 0
    waiting_received: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "watermark": None if self.watermark is None else self.watermark.isoformat(),
            "buckets": list(self.buckets),
            "held_jobs": self.held_jobs,
            "held_fees_wei": self.held_fees_wei,
            "waiting_received": self.waiting_received,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Head:
        watermark = data["watermark"]
        return cls(
            watermark=None if watermark is None else datetime.fromisoformat(watermark),
            buckets=tuple(int(start) for start in data["buckets"]),
            held_jobs=int(data["held_jobs"]),
            held_fees_wei=int(data["held_fees_wei"]),
            waiting_received=int(data["waiting_received"]),
        )


class CorrelationReads(Protocol):
    """The stored pending halves and expiry buckets of one partition key."""

    def pending(self, request_id: str) -> Pending: ...

    def bucket(self, start: int) -> ExpiryBucket: ...


@dataclass(frozen=True, slots=True)
class Step:
    """What one event changes: the new head, the values to write (an empty one is deleted), the outcomes."""

    head: Head
    pending: Mapping[str, Pending]
    buckets: Mapping[int, ExpiryBucket]
    outcomes: Outcomes


def step(head: Head, event: Event, policy: CorrelationPolicy, reads: CorrelationReads) -> Step:
    """Apply one event of the partition: the jobs it attributes and the halves its event time expired.

    Every event moves event time forward, so a connection event may expire halves too. Only the pending
    halves of the event's requestID and of the expiring buckets are read or written, so the cost of an
    event does not grow with the number of halves waiting."""
    change = _Change(head, reads)
    payload = event.payload
    attributed: tuple[AttributedJob, ...] = ()
    if isinstance(payload, TranscodeJobProcessedPayload):
        attributed = (transcode_job(event),)
    elif isinstance(payload, JobReceivedPayload):
        attributed = change.on_received(event, payload, policy.match_window)
    elif isinstance(payload, AIJobProcessedPayload):
        attributed = change.on_processed(event, payload, policy.match_window)
    return change.expire(event.dt, policy.ttl, attributed)


class _Change:
    """The values one event reads and writes: each is read from the store at most once, and only the changed
    ones are written."""

    def __init__(self, head: Head, reads: CorrelationReads) -> None:
        self._head = head
        self._reads = reads
        self._pending: dict[str, Pending] = {}
        self._buckets: dict[int, ExpiryBucket] = {}
        self._written_pending: set[str] = set()
        self._written_buckets: set[int] = set()
        self._starts = set(head.buckets)
        self._held_jobs = head.held_jobs
        self._held_fees_wei = head.held_fees_wei
        self._waiting_received = head.waiting_received

    def on_received(self, event: Event, payload: JobReceivedPayload, window: timedelta) -> tuple[AttributedJob, ...]:
        pending = self._get(payload.request_id)
        if _holds(pending.received, event.id):
            return ()
        partner = _closest(pending.processed, event.dt, window)
        if partner is None:
            self._wait(payload.request_id, replace(pending, received=_with(pending.received, event)), event)
            self._waiting_received += 1
            return ()
        self._put(payload.request_id, replace(pending, processed=_without(pending.processed, partner)))
        self._release_processed(partner)
        return (ai_job(partner, payload.eth_address),)

    def on_processed(
        self, event: Event, payload: AIJobProcessedPayload, window: timedelta
    ) -> tuple[AttributedJob, ...]:
        pending = self._get(payload.request_id)
        if _holds(pending.processed, event.id):
            return ()
        partner = _closest(pending.received, event.dt, window)
        if partner is None:
            self._wait(payload.request_id, replace(pending, processed=_with(pending.processed, event)), event)
            self._held_jobs += 1
            self._held_fees_wei += payload.fees
            return ()
        self._put(payload.request_id, replace(pending, received=_without(pending.received, partner)))
        self._waiting_received -= 1
        return (ai_job(event, _received_payload(partner).eth_address),)

    def expire(self, dt: datetime, ttl: timedelta, attributed: tuple[AttributedJob, ...]) -> Step:
        watermark = dt if self._head.watermark is None else max(self._head.watermark, dt)
        horizon = watermark - ttl
        expired_received: list[Event] = []
        expired_processed: list[Event] = []
        for start in sorted(self._starts):
            if start >= horizon.timestamp():
                break
            bucket = self._bucket(start)
            due = {request_id for request_id, waited_since in bucket.entries if waited_since < horizon}
            if not due:
                continue
            for request_id in sorted(due):
                pending = self._get(request_id)
                received = tuple(e for e in pending.received if e.dt >= horizon)
                processed = tuple(e for e in pending.processed if e.dt >= horizon)
                if len(received) + len(processed) == len(pending.received) + len(pending.processed):
                    continue
                expired_received.extend(e for e in pending.received if e.dt < horizon)
                expired_processed.extend(e for e in pending.processed if e.dt < horizon)
                self._put(request_id, Pending(received, processed))
            kept = tuple(entry for entry in bucket.entries if entry[1] >= horizon)
            self._put_bucket(start, ExpiryBucket(kept))
            if not kept:
                self._starts.discard(start)
        for event in expired_processed:
            self._release_processed(event)
        self._waiting_received -= len(expired_received)
        outcomes = Outcomes(
            attributed=attributed,
            unattributed=tuple(_unattributed(event) for event in sorted(expired_processed, key=_event_order)),
            unmatched=tuple(_unmatched(event) for event in sorted(expired_received, key=_event_order)),
        )
        head = Head(
            watermark=watermark,
            buckets=tuple(sorted(self._starts)),
            held_jobs=self._held_jobs,
            held_fees_wei=self._held_fees_wei,
            waiting_received=self._waiting_received,
        )
        written = {request_id: self._pending[request_id] for request_id in self._written_pending}
        buckets = {start: self._buckets[start] for start in self._written_buckets}
        return Step(head, MappingProxyType(written), MappingProxyType(buckets), outcomes)

    def _get(self, request_id: str) -> Pending:
        if request_id not in self._pending:
            self._pending[request_id] = self._reads.pending(request_id)
        return self._pending[request_id]

    def _put(self, request_id: str, pending: Pending) -> None:
        self._pending[request_id] = pending
        self._written_pending.add(request_id)

    def _put_bucket(self, start: int, bucket: ExpiryBucket) -> None:
        self._buckets[start] = bucket
        self._written_buckets.add(start)

    def _bucket(self, start: int) -> ExpiryBucket:
        if start not in self._buckets:
            self._buckets[start] = self._reads.bucket(start)
        return self._buckets[start]

    def _wait(self, request_id: str, pending: Pending, event: Event) -> None:
        self._put(request_id, pending)
        start = bucket_start(event.dt)
        bucket = self._bucket(start)
        self._put_bucket(start, ExpiryBucket((*bucket.entries, (request_id, event.dt))))
        self._starts.add(start)

    def _release_processed(self, event: Event) -> None:
        self._held_jobs -= 1
        self._held_fees_wei -= _processed_payload(event).fees


def bucket_start(dt: datetime) -> int:
    seconds = math.floor(dt.timestamp())
    return seconds - seconds % EXPIRY_BUCKET_SECONDS


@dataclass(frozen=True, slots=True)
class CorrelationState:
    """All of one partition key's correlation state in memory: the store `step` reads, and the writes it
    returns applied. The stream app keeps the same values as separate table rows."""

    head: Head = field(default_factory=Head)
    pending_by_request: Mapping[str, Pending] = field(default_factory=lambda: MappingProxyType({}))
    buckets: Mapping[int, ExpiryBucket] = field(default_factory=lambda: MappingProxyType({}))

    def pending(self, request_id: str) -> Pending:
        return self.pending_by_request.get(request_id, Pending())

    def bucket(self, start: int) -> ExpiryBucket:
        return self.buckets.get(start, ExpiryBucket())

    def apply(self, change: Step) -> CorrelationState:
        return CorrelationState(
            head=change.head,
            pending_by_request=_updated(self.pending_by_request, change.pending),
            buckets=_updated(self.buckets, change.buckets),
        )

    @property
    def held_fees_wei(self) -> int:
        return self.head.held_fees_wei

    @property
    def received(self) -> Mapping[str, tuple[Event, ...]]:
        return {rid: pending.received for rid, pending in self.pending_by_request.items() if pending.received}

    @property
    def processed(self) -> Mapping[str, tuple[Event, ...]]:
        return {rid: pending.processed for rid, pending in self.pending_by_request.items() if pending.processed}


def attribute(state: CorrelationState, event: Event, policy: CorrelationPolicy) -> tuple[CorrelationState, Outcomes]:
    """`step` on a state held in memory."""
    change = step(state.head, event, policy, state)
    return state.apply(change), change.outcomes


_K = TypeVar("_K")
_V = TypeVar("_V", Pending, ExpiryBucket)


def _updated(values: Mapping[_K, _V], writes: Mapping[_K, _V]) -> Mapping[_K, _V]:
    merged = {**values, **writes}
    return MappingProxyType({key: value for key, value in merged.items() if value})


def _closest(candidates: tuple[Event, ...], dt: datetime, window: timedelta) -> Event | None:
    """The candidate closest in time; candidates are in (dt, event id) order, so the first of equals wins."""
    in_window = [candidate for candidate in candidates if abs(candidate.dt - dt) <= window]
    if not in_window:
        return None
    return min(in_window, key=lambda candidate: abs(candidate.dt - dt))


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


def _holds(events: tuple[Event, ...], event_id: str) -> bool:
    return any(event.id == event_id for event in events)


def _with(events: tuple[Event, ...], event: Event) -> tuple[Event, ...]:
    return tuple(sorted((*events, event), key=_event_order))


def _without(events: tuple[Event, ...], event: Event) -> tuple[Event, ...]:
    return tuple(e for e in events if e.id != event.id)


def _received_payload(event: Event) -> JobReceivedPayload:
    if not isinstance(event.payload, JobReceivedPayload):
        raise TypeError(f"event {event.id} is not a job-received event")
    return event.payload


def _processed_payload(event: Event) -> AIJobProcessedPayload:
    if not isinstance(event.payload, AIJobProcessedPayload):
        raise TypeError(f"event {event.id} is not an AI job-processed event")
    return event.payload


def _events_from_json(
    envelopes: Sequence[Any], payload_type: type[JobReceivedPayload] | type[AIJobProcessedPayload]
) -> tuple[Event, ...]:
    events = []
    for envelope in envelopes:
        event = parse_event_object(envelope)
        if not isinstance(event, Event) or not isinstance(event.payload, payload_type):
            raise ValueError(f"a stored pending half is not a {payload_type.__name__}")
        events.append(event)
    return tuple(events)
