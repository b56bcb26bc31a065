"""A record that can no longer be delivered is never passed over silently (stream_app/offset_order.py).

The gap is made for real: the group's committed offset is set behind records the broker has deleted, as
retention would, so the consumer's first record of that partition lies past the committed offset. The
worker dead-letters the lost range and processes the rest.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from tests.pipeline_process import PipelineProcess, pipeline
from tests.stream_app.pipeline import pool_files

pytestmark = pytest.mark.integration
__all__ = ["pipeline"]

COMMITTED = 1
LOG_START = 3


async def test_records_deleted_before_processing_are_dead_lettered_as_a_range(pipeline: PipelineProcess) -> None:
    await pipeline.upload(pool_files(seed=3, minutes=1, transcode_jobs=5, ai_jobs=2))
    published = pipeline.openpool("bridge", "--once")
    assert published.returncode == 0, published.stderr[-2000:]
    settings = pipeline.settings
    events = await pipeline.read(settings.topics.events)
    partition, count = Counter(record.partition for record in events).most_common(1)[0]
    assert count > LOG_START
    tp = TopicPartition(settings.topics.events, partition)
    await _commit(settings.kafka_bootstrap_servers, settings.app_id, tp, COMMITTED)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_records({tp: RecordsToDelete(LOG_START)})
    finally:
        await admin.close()

    done = pipeline.openpool("run", "--until-idle", timeout=240)

    assert done.returncode == 0, done.stderr[-3000:]
    expired = [letter for letter in await pipeline.dead_letters() if letter["reason"] == "records_expired"]
    assert [json.loads(letter["detail"]) for letter in expired] == [
        {"topic": settings.topics.events, "partition": partition, "first": COMMITTED, "last": LOG_START - 1}
    ]
    assert await _committed(settings.kafka_bootstrap_servers, settings.app_id, tp) == count


async def _commit(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str, tp: TopicPartition) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return int((await admin.list_consumer_group_offsets(group, partitions=[tp]))[tp].offset)
    finally:
        await admin.close()
