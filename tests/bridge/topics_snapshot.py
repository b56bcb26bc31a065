"""What the bridge left in Kafka, read back from the beginning of each topic to its end."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aiokafka import ConsumerRecord

from openpool.settings import Settings
from openpool.topic_reader import read_to_end


async def read_topic(bootstrap_servers: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    return [record async for record in read_to_end(bootstrap_servers, topic)]


@dataclass
class TopicsSnapshot:
    events: list[ConsumerRecord[bytes, bytes]]
    dead_letters: list[dict[str, Any]]
    progress: list[tuple[str, dict[str, Any]]]

    @cached_property
    def event_ids(self) -> Counter[str]:
        return Counter(json.loads(record.value)["ID"] for record in self.events)

    @cached_property
    def latest_progress(self) -> dict[str, dict[str, Any]]:
        return dict(self.progress)

    @property
    def marks(self) -> Counter[tuple[str, str]]:
        """How often each (key, version) was marked published (archive updates are not marks)."""
        return Counter((key, value["version"]) for key, value in self.progress if not value["archived"])

    def reasons(self) -> list[tuple[str, str, int | None]]:
        return [(d["source_key"], d["reason"], d["position"]) for d in self.dead_letters]


async def snapshot(settings: Settings) -> TopicsSnapshot:
    bootstrap, topics = settings.kafka_bootstrap_servers, settings.topics
    events = await read_topic(bootstrap, topics.events)
    letters = [json.loads(r.value) for r in await read_topic(bootstrap, topics.dead_letters)]
    progress = [(r.key.decode(), json.loads(r.value)) for r in await read_topic(bootstrap, topics.bridge_progress)]
    return TopicsSnapshot(events, letters, progress)
