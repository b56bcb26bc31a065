"""The Kafka side of publishing a file: send its records, wait for every ack, then mark its progress.

The order is the guarantee: a progress mark is produced only after the broker acknowledged every event
record and dead letter of that file version, so a crash at any point leaves the file unmarked (published
again on restart, duplicates dropped downstream by position/event ID) or marked with all its records in
Kafka. Never marked with records missing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from bridge.listing import ListedObject
from bridge.progress import ProgressIndex, ProgressRecord, mark
from bridge.records import FileOutput, unrecognised_key_letter
from bridge.s3 import StoredObject
from openpool import metrics
from openpool.dead_letters import DeadLetterWriter
from openpool.settings import Settings, TopicNames

log = logging.getLogger(__name__)


def event_producer(settings: Settings, role: str) -> AIOKafkaProducer:
    """The producer of every writer to the events topic: idempotent, all replicas acked, lightly batched."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.app_id}-{role}",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
    )


@dataclass(frozen=True, slots=True)
class SentFile:
    """A file version whose records are sent; `record` is its progress mark, due once every ack arrived."""

    record: ProgressRecord
    acks: list[asyncio.Future[Any]]


class Publisher:
    def __init__(self, producer: AIOKafkaProducer, topics: TopicNames, index: ProgressIndex) -> None:
        self._producer = producer
        self._topics = topics
        self._index = index
        self._letters = DeadLetterWriter(producer, topics.dead_letters)

    async def send(
        self, stored: StoredObject, output: FileOutput, *, previous_version: str | None, now: datetime
    ) -> SentFile:
        acks: list[asyncio.Future[Any]] = []
        for event in output.events:
            acks.append(
                await self._producer.send(
                    self._topics.events,
                    value=event.value,
                    key=event.key,
                    timestamp_ms=event.timestamp_ms,
                    headers=list(event.headers),
                )
            )
        for letter in output.dead_letters:
            acks.append(await self._letters.send(letter))
        record = ProgressRecord(
            key=stored.key,
            version=stored.version,
            size=stored.size,
            last_modified=stored.last_modified,
            events=len(output.events),
            dead_letters=len(output.dead_letters),
            published_at=now,
            skipped_events=output.skipped_events,
            previous_version=previous_version,
        )
        return SentFile(record, acks)

    async def complete(self, sent: SentFile, now: datetime) -> ProgressRecord:
        """Wait for the file's acks, then mark it."""
        await asyncio.gather(*sent.acks)
        record = sent.record.model_copy(update={"published_at": now})
        await self._mark(record)
        metrics.BRIDGE_EVENTS_PUBLISHED.inc(record.events)
        metrics.BRIDGE_EVENTS_SKIPPED.inc(record.skipped_events)
        log.info(
            "file published",
            extra={
                "key": record.key,
                "version": record.version,
                "topic": self._topics.events,
                "events": record.events,
                "dead_letters": record.dead_letters,
            },
        )
        return record

    async def publish_unrecognised(self, obj: ListedObject, now: datetime) -> ProgressRecord:
        """A key of another layout: one dead letter, then marked so that it is reported only once."""
        await (await self._letters.send(unrecognised_key_letter(obj, now)))
        log.warning("key of another layout dead-lettered", extra={"key": obj.key, "version": obj.version})
        record = ProgressRecord(
            key=obj.key,
            version=obj.version,
            size=obj.size,
            last_modified=obj.last_modified,
            events=0,
            dead_letters=1,
            published_at=now,
        )
        await self._mark(record)
        return record

    async def mark_archived(self, record: ProgressRecord) -> None:
        archived = record.model_copy(update={"archived": True})
        await mark(self._producer, self._topics.bridge_progress, archived)
        self._index.apply(archived)

    async def _mark(self, record: ProgressRecord) -> None:
        await mark(self._producer, self._topics.bridge_progress, record)
        self._index.apply(record)
        metrics.BRIDGE_FILES_PUBLISHED.inc()
        metrics.BRIDGE_PUBLISH_DELAY.observe(max(0.0, (record.published_at - record.last_modified).total_seconds()))
