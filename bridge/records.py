"""What one S3 file version becomes in Kafka: event records in file order, and dead letters. Pure.

Every element of the file ends up either as an event record or as a dead letter with its reason; for a
changed file (same key, new content) the events the previous version already carried are skipped, and the
ones it carried that are gone are reported once as `retracted_events`, since they cannot be un-applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bridge.listing import ListedObject
from openpool.dead_letters import DeadLetter
from openpool.domain.event_files import ParsedFile, PositionedEvent, Rejection, SourceKey

STAGE = "bridge"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class EventRecord:
    key: bytes
    value: bytes
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class PreviousVersion:
    """The version of the same key published before, read back from the archive."""

    version: str
    parsed: ParsedFile


@dataclass(frozen=True, slots=True)
class FileOutput:
    events: tuple[EventRecord, ...]
    dead_letters: tuple[DeadLetter, ...]
    skipped_events: int


def file_output(
    source: SourceKey,
    version: str,
    parsed: ParsedFile,
    *,
    now: datetime,
    previous: PreviousVersion | None = None,
) -> FileOutput:
    already_published = _event_ids(previous.parsed) if previous is not None else frozenset()
    events = tuple(
        event_record(source.key, version, positioned)
        for positioned in parsed.events
        if positioned.event.id not in already_published
    )
    letters = [rejection_letter(source.key, version, rejection, now) for rejection in parsed.rejections]
    if previous is not None:
        retracted = sorted(already_published - _event_ids(parsed))
        if retracted:
            letters.append(retraction_letter(source.key, version, previous.version, retracted, now))
    return FileOutput(events, tuple(letters), skipped_events=len(parsed.events) - len(events))


def event_record(source_key: str, version: str, positioned: PositionedEvent) -> EventRecord:
    """Key `region|node_type`, timestamp = the event's DT, value = the envelope as JSON."""
    event = positioned.event
    return EventRecord(
        key=event.partition_key.encode(),
        value=json.dumps(event.to_envelope(), separators=(",", ":"), ensure_ascii=False).encode(),
        timestamp_ms=(event.dt - _EPOCH) // timedelta(milliseconds=1),
        headers=(
            ("source_key", source_key.encode()),
            ("source_version", version.encode()),
            ("position", str(positioned.position).encode()),
            ("event_id", event.id.encode()),
        ),
    )


def rejection_letter(source_key: str, version: str, rejection: Rejection, now: datetime) -> DeadLetter:
    return DeadLetter(
        reason=rejection.reason,
        detail=rejection.detail,
        stage=STAGE,
        source_key=source_key,
        source_version=version,
        position=rejection.position,
        raw=rejection.raw,
        at=now,
    )


def retraction_letter(
    source_key: str, version: str, previous_version: str, retracted_ids: list[str], now: datetime
) -> DeadLetter:
    return DeadLetter(
        reason="retracted_events",
        detail=f"{len(retracted_ids)} events of version {previous_version} are missing from version {version}",
        stage=STAGE,
        source_key=source_key,
        source_version=version,
        position=None,
        raw=json.dumps({"previous_version": previous_version, "event_ids": retracted_ids}).encode(),
        at=now,
    )


def unrecognised_key_letter(obj: ListedObject, now: datetime) -> DeadLetter:
    """A key under a pool prefix that is not of the emitter's layout: reported once, never fetched."""
    return DeadLetter(
        reason="unrecognised_key",
        detail="key is not {region}/{node_type}/{region}-{node_type}-{start}_{end}.json",
        stage=STAGE,
        source_key=obj.key,
        source_version=obj.version,
        position=None,
        raw=b"",
        at=now,
    )


def _event_ids(parsed: ParsedFile) -> frozenset[str]:
    return frozenset(positioned.event.id for positioned in parsed.events)
