"""Carrying out a redrive plan: publish each letter's records, and once the broker has them, its marker.

The order is the guarantee: a marker is written only after every record of its letter was acknowledged,
so a crash leaves a letter either marked with its records in Kafka, or unmarked and re-published by the
next redrive, which the stream app's ledgers recognise as already applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from openpool.dead_letters import DeadLetterWriter
from openpool.dlq.redrive import OutgoingRecord, RedrivePlan, Republish, redrive_marker
from openpool.settings import Settings

log = logging.getLogger(__name__)

CHUNK = 500


@dataclass(frozen=True, slots=True)
class Republished:
    item: Republish
    published_at: tuple[tuple[str, int, int], ...]
    """(topic, partition, offset) of each record sent."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def apply_redrive(
    settings: Settings, plan: RedrivePlan, *, clock: Callable[[], datetime] = _utc_now
) -> list[Republished]:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.app_id}-dlq-redrive",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
    )
    await producer.start()
    done: list[Republished] = []
    try:
        markers = DeadLetterWriter(producer, settings.topics.dead_letters)
        for start in range(0, len(plan.republish), CHUNK):
            chunk = plan.republish[start : start + CHUNK]
            sent = [[await _send(producer, record) for record in item.records] for item in chunk]
            marker_acks = []
            for item, acks in zip(chunk, sent, strict=True):
                metadata = [await ack for ack in acks]
                published_at = tuple((m.topic, m.partition, m.offset) for m in metadata)
                marker_acks.append(await markers.send(redrive_marker(item, published_at, clock())))
                done.append(Republished(item, published_at))
            for ack in marker_acks:
                await ack
    finally:
        await producer.stop()
    log.info(
        "dead letters re-published",
        extra={"topic": settings.topics.dead_letters, "letters": len(done), "records": plan.record_count},
    )
    return done


async def _send(producer: AIOKafkaProducer, record: OutgoingRecord) -> Any:
    return await producer.send(
        record.topic,
        value=record.value,
        key=record.key,
        partition=record.partition,
        headers=list(record.headers),
        timestamp_ms=record.timestamp_ms,
    )
