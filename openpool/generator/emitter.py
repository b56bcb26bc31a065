"""The go-livepeer event tracker: buffers an orchestrator's events and flushes them as S3 files.

A flush happens on the tracker's ticker (every `flush_seconds` from process start), when the buffer reaches
the threshold, and when the process stops, which a restart (`orchestrator-reset`) implies. Each flush is one
JSON array, pretty-printed with two-space indent and sorted keys like Go's `MarshalIndent`, under
`{region}/{node_type}/{region}-{node_type}-{first DT}_{last DT}.json`. IDs are UUIDv4 drawn at flush time;
`NodeType` and `Region` are the process's, `DT` is RFC 3339 to the second.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from openpool.domain.events import EventType
from openpool.generator.pool_model import Partition

DT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
KEY_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True, slots=True)
class Emission:
    """One `CreateEventLog` call of the orchestrator."""

    at: float
    """Seconds after the data set's start; the envelope's DT is this, truncated to the second."""
    event_type: str
    payload: Mapping[str, Any]
    region: str | None = None
    """Set only on events written into another partition's file (a fault); otherwise the process's region."""
    rejection: str | None = None
    """For a deliberately malformed event: the reason the contract must reject it with."""

    @property
    def second(self) -> int:
        return math.floor(self.at)


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    interval_seconds: float = 60.0
    threshold: int = 10_000


@dataclass(frozen=True, slots=True)
class Flush:
    partition: Partition
    emissions: tuple[Emission, ...]
    flushed_at: float


class Body(StrEnum):
    EVENTS = "events"
    NULL = "null"
    """Every event of the flush was malformed at the tracker, which then writes the literal `null`."""
    TRUNCATED = "truncated"
    """The upload was cut short: the body is not JSON."""


@dataclass(frozen=True, slots=True)
class EventFile:
    key: str
    partition: Partition
    emissions: tuple[Emission, ...]
    event_ids: tuple[str, ...]
    flushed_at: float
    body: bytes
    body_kind: Body = Body.EVENTS

    @property
    def first_second(self) -> int:
        return self.emissions[0].second

    @property
    def last_second(self) -> int:
        return self.emissions[-1].second


def flushes(partition: Partition, emissions: Iterable[Emission], policy: FlushPolicy, stop_at: float) -> list[Flush]:
    """Cut one orchestrator's emissions (in emit order) into the tracker's flushes."""
    done: list[Flush] = []
    buffer: list[Emission] = []
    next_tick: float | None = None

    def flush(at: float) -> None:
        if buffer:
            done.append(Flush(partition, tuple(buffer), at))
            buffer.clear()

    for emission in emissions:
        if emission.event_type == EventType.ORCHESTRATOR_RESET and emission.rejection is None:
            flush(emission.at)
            next_tick = emission.at + policy.interval_seconds
        elif next_tick is None:
            next_tick = emission.at + policy.interval_seconds
        elif emission.at >= next_tick:
            flush(next_tick)
            ticks_passed = math.floor((emission.at - next_tick) / policy.interval_seconds) + 1
            next_tick += ticks_passed * policy.interval_seconds
        buffer.append(emission)
        if len(buffer) >= policy.threshold:
            flush(emission.at)
    flush(next_tick if next_tick is not None and next_tick < stop_at else stop_at)
    return done


class Clock:
    """Seconds after the start as the emitter's text: RFC 3339 `DT` and the key's compact stamp."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._dt: dict[int, str] = {}

    def moment(self, second: int) -> datetime:
        return self.start + timedelta(seconds=second)

    def dt(self, second: int) -> str:
        text = self._dt.get(second)
        if text is None:
            text = self._dt[second] = self.moment(second).strftime(DT_FORMAT)
        return text

    def stamp(self, second: int) -> str:
        return self.moment(second).strftime(KEY_STAMP_FORMAT)


def file_key(partition: Partition, start_stamp: str, end_stamp: str) -> str:
    region, node_type = partition.region, partition.node_type
    return f"{region}/{node_type}/{region}-{node_type}-{start_stamp}_{end_stamp}.json"


def render(flush: Flush, clock: Clock, ids: random.Random) -> EventFile:
    """The file the tracker uploads for `flush`; `ids` stands in for the UUIDv4 source of the tracker."""
    partition = flush.partition
    event_ids = tuple(str(uuid.UUID(int=ids.getrandbits(128), version=4)) for _ in flush.emissions)
    envelopes = [
        {
            "DT": clock.dt(emission.second),
            "EventType": emission.event_type,
            "ID": event_id,
            "NodeType": partition.node_type,
            "Payload": emission.payload,
            "Region": emission.region or partition.region,
            "Version": 1,
        }
        for emission, event_id in zip(flush.emissions, event_ids, strict=True)
    ]
    key = file_key(partition, clock.stamp(flush.emissions[0].second), clock.stamp(flush.emissions[-1].second))
    return EventFile(
        key=key,
        partition=partition,
        emissions=flush.emissions,
        event_ids=event_ids,
        flushed_at=flush.flushed_at,
        body=json.dumps(envelopes, indent=2, sort_keys=True).encode(),
    )
