"""What re-publishing selected dead letters means, decided without I/O.

- An event the bridge or stage 1 refused (stage `bridge`/`stream`, a contract reason) is parsed again with
  the current contract, for the partition of its source key. If it now parses, it goes to the events topic
  as the bridge would have published it (same key, source headers and position), so the stream app's file
  ledger recognises it if it was applied before. A whole-file refusal (no position) is parsed as a file and
  re-published only if every element now parses. Anything that still fails stays a dead letter.
- A record an agent could not process (`processing_failed`) goes back as it was to the topic and partition
  it came from; the stage-2 values recognise an origin they already applied. An events record stage 1 could
  not process is filed under its file version and position, and is re-published as the bridge would.
- Letters a marker says were re-published are left alone, so running the same redrive twice sends nothing
  the second time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bridge.records import event_record
from openpool.dead_letters import DeadLetter
from openpool.dlq.selection import Selection, select
from openpool.dlq.stored import MARKER_STAGE, REDRIVEN, StoredLetter, redriven_letters
from openpool.domain.event_files import (
    PositionedEvent,
    Rejection,
    SourceKey,
    loads_bounded,
    parse_event_file,
    parse_event_object,
)
from openpool.domain.events import Event
from openpool.settings import TopicNames

REJECTING_STAGES = frozenset({"bridge", "stream"})
# "fees" and "performance" name the two stage-2 agents of earlier versions; their letters stay redrivable.
PROCESSING_STAGES = frozenset({"jobs", "fees", "performance", "stream"})
PROCESSING_FAILED = "processing_failed"
# Outcomes rather than refused input: there is nothing to parse again.
NOT_REFUSALS = {
    "retracted_events": "events that disappeared from a changed file cannot be re-published from here",
    "unrecognised_key": "the key is not of the emitter's layout; nothing of the file was read",
    "unattributed_fees": "an AI job without its job-received: a correlation outcome, not a refused record",
}


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    partition: int | None
    """None: the producer's partitioner chooses by key, as for the bridge's own records."""
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Republish:
    letter: StoredLetter
    records: tuple[OutgoingRecord, ...]


@dataclass(frozen=True, slots=True)
class StillFailing:
    letter: StoredLetter
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class NotRedrivable:
    letter: StoredLetter
    why: str


@dataclass(frozen=True, slots=True)
class RedrivePlan:
    republish: tuple[Republish, ...] = ()
    still_failing: tuple[StillFailing, ...] = ()
    not_redrivable: tuple[NotRedrivable, ...] = ()
    already_redriven: tuple[StoredLetter, ...] = field(default=())

    @property
    def record_count(self) -> int:
        return sum(len(item.records) for item in self.republish)


def plan_redrive(
    letters: Sequence[StoredLetter], selection: Selection, topics: TopicNames, now: datetime | None = None
) -> RedrivePlan:
    """With `now`, events dated far after it are still refused (`future_timestamp`), as the bridge does."""
    done = redriven_letters(letters)
    republish: list[Republish] = []
    failing: list[StillFailing] = []
    refused: list[NotRedrivable] = []
    already: list[StoredLetter] = []
    for letter in select(letters, selection):
        if letter.where in done:
            already.append(letter)
            continue
        outcome = redrive_one(letter, topics, now)
        if isinstance(outcome, Republish):
            republish.append(outcome)
        elif isinstance(outcome, StillFailing):
            failing.append(outcome)
        else:
            refused.append(outcome)
    return RedrivePlan(tuple(republish), tuple(failing), tuple(refused), tuple(already))


def redrive_one(
    letter: StoredLetter, topics: TopicNames, now: datetime | None = None
) -> Republish | StillFailing | NotRedrivable:
    if letter.is_marker:
        return NotRedrivable(letter, "a redrive marker, not a dead letter")
    if letter.reason == PROCESSING_FAILED and letter.source_version is None:
        return _processing_failure(letter, topics)
    if letter.reason in NOT_REFUSALS:
        return NotRedrivable(letter, NOT_REFUSALS[letter.reason])
    if letter.stage not in REJECTING_STAGES:
        return NotRedrivable(letter, f"stage {letter.stage!r} does not refuse events")
    if letter.raw_truncated:
        return NotRedrivable(letter, "raw was truncated; publish the file again from S3 (source key and version)")
    source = SourceKey.parse(letter.source_key)
    if source is None or letter.source_version is None:
        return NotRedrivable(letter, "no file version to attribute the event to")
    if letter.position is None:
        return _whole_file(letter, source, letter.source_version, topics, now)
    outcome = _parse_element(letter.raw, letter.position, source, now)
    if isinstance(outcome, Rejection):
        return StillFailing(letter, outcome.reason, outcome.detail)
    positioned = PositionedEvent(letter.position, outcome)
    return Republish(letter, (_event(topics, letter.source_key, letter.source_version, positioned),))


def redrive_marker(republished: Republish, published_at: Sequence[tuple[str, int, int]], now: datetime) -> DeadLetter:
    """The record saying `republished` is done; `published_at` holds (topic, partition, offset) per record."""
    letter = republished.letter
    raw = {
        "dead_letter": {"partition": letter.where.partition, "offset": letter.where.offset},
        "reason": letter.reason,
        "published": [{"topic": t, "partition": p, "offset": o} for t, p, o in published_at],
    }
    topics = sorted({topic for topic, _, _ in published_at})
    return DeadLetter(
        reason=REDRIVEN,
        detail=f"dead letter {letter.where} ({letter.reason}) re-published: {len(published_at)} record(s) to "
        + ", ".join(topics),
        stage=MARKER_STAGE,
        source_key=letter.source_key,
        source_version=letter.source_version,
        position=letter.position,
        raw=json.dumps(raw, separators=(",", ":")).encode(),
        at=now,
    )


def _processing_failure(letter: StoredLetter, topics: TopicNames) -> Republish | NotRedrivable:
    if letter.stage not in PROCESSING_STAGES:
        return NotRedrivable(letter, f"stage {letter.stage!r} has no agent input to re-publish to")
    if letter.raw_truncated:
        return NotRedrivable(letter, "raw was truncated; the original record is in its topic at that offset")
    topic, _, partition_text = letter.source_key.rpartition("/")
    if topic not in (topics.events, topics.attributed_jobs) or not partition_text.isdigit():
        return NotRedrivable(letter, f"source {letter.source_key!r} is not an agent input topic of this app")
    return Republish(letter, (OutgoingRecord(topic, int(partition_text), None, letter.raw),))


def _parse_element(raw: bytes, position: int, source: SourceKey, now: datetime | None) -> Event | Rejection:
    try:
        element = loads_bounded(raw)
    except (ValueError, RecursionError) as error:
        return Rejection("invalid_json", str(error)[:200], position, raw)
    return parse_event_object(element, position=position, region=source.region, node_type=source.node_type, now=now)


def _whole_file(
    letter: StoredLetter, source: SourceKey, version: str, topics: TopicNames, now: datetime | None
) -> Republish | StillFailing:
    parsed = parse_event_file(source, letter.raw, now=now)
    if parsed.rejections:
        first = parsed.rejections[0]
        where = "the file" if first.position is None else f"element {first.position}"
        return StillFailing(letter, first.reason, f"{where}: {first.detail}"[:300])
    if not parsed.events:
        return StillFailing(letter, "no_events", "the file now parses but holds no events")
    return Republish(letter, tuple(_event(topics, letter.source_key, version, item) for item in parsed.events))


def _event(topics: TopicNames, source_key: str, version: str, positioned: PositionedEvent) -> OutgoingRecord:
    record = event_record(source_key, version, positioned)
    return OutgoingRecord(topics.events, None, record.key, record.value, record.headers, record.timestamp_ms)
