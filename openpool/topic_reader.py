"""Reading a whole topic from its beginning to the end offsets it had when reading started.

This is how a component rebuilds its state from a compacted topic at start-up (the bridge's progress, for
example): records produced after the start are not waited for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


class TopicNotFoundError(RuntimeError):
    pass


async def read_to_end(
    bootstrap_servers: str, topic: str, *, assignment_timeout_seconds: float = 15.0
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    # Subscribing without a group gets every partition assigned, starting at the earliest offset.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = await _assigned(consumer, topic, assignment_timeout_seconds)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(list(partitions))
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for tp in sorted(batches, key=lambda tp: tp.partition):
                for record in batches[tp]:
                    if record.offset < ends[tp]:
                        yield record
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()


async def _assigned(consumer: AIOKafkaConsumer, topic: str, timeout_seconds: float) -> set[TopicPartition]:
    # A topic created a moment ago can take a few metadata refreshes to show up.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    while loop.time() < deadline:
        partitions: set[TopicPartition] = consumer.assignment()
        if partitions:
            return partitions
        await asyncio.sleep(0.05)
    raise TopicNotFoundError(f"topic {topic} has no partitions assigned after {timeout_seconds} s")
