"""How far a consumer group is through its topics: end offsets, committed offsets and the lag between them.

Read from the broker, as an operator would, so it measures what the worker has durably done (Faust commits
only after flushing what a record produced), not what it has merely fetched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from openpool.topics import partitions_of


@dataclass(frozen=True, slots=True)
class TopicProgress:
    end: int
    """Records written (the sum of the partitions' end offsets)."""
    committed: int

    @property
    def lag(self) -> int:
        return self.end - self.committed


class ConsumerProgress:
    """Held open across many reads (one admin client and one consumer), for polling progress cheaply."""

    def __init__(self, bootstrap_servers: str, group: str) -> None:
        self._bootstrap = bootstrap_servers
        self._group = group
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def __aenter__(self) -> ConsumerProgress:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def ends(self, topics: Sequence[str]) -> dict[str, int]:
        offsets = await self._end_offsets(topics)
        return {topic: sum(offsets.get(tp, 0) for tp in self._partitions.get(topic, [])) for topic in topics}

    async def of(self, topics: Sequence[str]) -> dict[str, TopicProgress]:
        offsets = await self._end_offsets(topics)
        try:
            committed = await self._admin.list_consumer_group_offsets(self._group)
        except GroupCoordinatorNotAvailableError:  # the group has not formed yet
            committed = {}
        progress = {}
        for topic in topics:
            tps = self._partitions.get(topic, [])
            end = sum(offsets.get(tp, 0) for tp in tps)
            done = sum(max(min(committed[tp].offset, offsets.get(tp, 0)), 0) for tp in tps if tp in committed)
            progress[topic] = TopicProgress(end, done)
        return progress

    async def _end_offsets(self, topics: Sequence[str]) -> dict[TopicPartition, int]:
        tps = await self._topic_partitions(topics)
        return dict(await self._consumer.end_offsets(tps)) if tps else {}

    async def _topic_partitions(self, topics: Sequence[str]) -> list[TopicPartition]:
        missing = [topic for topic in topics if topic not in self._partitions]
        if missing:
            for topic, numbers in (await partitions_of(self._bootstrap, missing)).items():
                self._partitions[topic] = [TopicPartition(topic, number) for number in numbers]
        return [tp for topic in topics for tp in self._partitions.get(topic, [])]
