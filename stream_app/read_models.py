"""Latest value per key of a compacted topic, loaded whole and then tailed.

Stage agents publish read models (earnings per worker, connections per partition key, performance per
worker, pool totals) to compacted topics. Any process — a worker serving the API, the exporter, the
payer — can hold the complete view regardless of which partitions its own agents were assigned.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from openpool.topics import partitions_of

log = logging.getLogger(__name__)


class ReadModel:
    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.topic = topic
        self._bootstrap = bootstrap_servers
        self._values: dict[str, Any] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    @property
    def values(self) -> dict[str, Any]:
        return self._values

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        partitions = (await partitions_of(self._bootstrap, [self.topic])).get(self.topic)
        await consumer.start()
        if not partitions:
            await consumer.stop()
            raise RuntimeError(f"topic {self.topic} does not exist")
        tps = [TopicPartition(self.topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._consumer = consumer
        self._task = asyncio.create_task(self._tail(consumer), name=f"read-model:{self.topic}")
        self._started.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def caught_up(self, within_seconds: float = 30.0) -> None:
        """Wait until everything written to the topic before this call has been read."""
        await asyncio.wait_for(self._started.wait(), within_seconds)
        consumer = self._consumer
        assert consumer is not None
        targets = await consumer.end_offsets(list(consumer.assignment()))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_seconds
        while True:
            positions = {tp: await consumer.position(tp) for tp in targets}
            if all(positions[tp] >= end for tp, end in targets.items()):
                return
            if loop.time() > deadline:
                raise TimeoutError(f"read model {self.topic} not caught up: {positions} < {targets}")
            await asyncio.sleep(0.05)

    async def _tail(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    key = record.key.decode() if record.key is not None else ""
                    if record.value is None:
                        self._values.pop(key, None)
                        continue
                    try:
                        self._values[key] = json.loads(record.value)
                    except ValueError:
                        log.error("unreadable read-model record", extra={"topic": self.topic, "key": key})
