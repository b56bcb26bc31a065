"""Every Kafka topic the project owns, with its partition count and cleanup policy, in one place.

The bridge, the stream app and the payer create what they need from here at start-up; the Kubernetes
KafkaTopic manifests are checked against the same declarations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from openpool.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool
    configs: dict[str, str] = field(default_factory=dict)

    def kafka_configs(self) -> dict[str, str]:
        policy = {"cleanup.policy": "compact" if self.compacted else "delete"}
        return {**policy, **self.configs}


# The stream app's changelog-backed tables and the topic whose partitions each one follows. Faust names a
# table's changelog `{app_id}-{table}-changelog`; creating them here, before Faust starts, means they exist
# with the right partition count and compaction, and are in every client's metadata from the start.
STAGE_ONE_TABLES = ("file-ledger", "correlation", "connections")
STAGE_TWO_TABLES = ("earnings", "performance")


def changelog_topic(app_id: str, table: str) -> str:
    return f"{app_id}-{table}-changelog"


def owned_topics(settings: Settings) -> list[TopicSpec]:
    names = settings.topics
    changelogs = [
        TopicSpec(changelog_topic(settings.app_id, table), partitions, compacted=True)
        for tables, partitions in (
            (STAGE_ONE_TABLES, settings.events_partitions),
            (STAGE_TWO_TABLES, settings.worker_partitions),
        )
        for table in tables
    ]
    return [
        *changelogs,
        TopicSpec(f"{settings.app_id}-__assignor-__leader", 1, compacted=False),
        TopicSpec(names.events, settings.events_partitions, compacted=False, configs={"retention.ms": "-1"}),
        TopicSpec(names.dead_letters, 1, compacted=False, configs={"retention.ms": "-1"}),
        TopicSpec(names.bridge_progress, 1, compacted=True),
        TopicSpec(names.payout_wal, 1, compacted=True, configs={"min.compaction.lag.ms": "604800000"}),
        TopicSpec(names.attributed_jobs, settings.worker_partitions, compacted=False),
        # Read models: the latest value per key, which the API, the exporter and the payer load whole.
        TopicSpec(names.earnings, 1, compacted=True),
        TopicSpec(names.connections, 1, compacted=True),
        TopicSpec(names.performance, 1, compacted=True),
        TopicSpec(names.pool_totals, 1, compacted=True),
    ]


async def ensure_topics(settings: Settings, specs: list[TopicSpec]) -> None:
    """Create the topics that are missing; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if not missing:
            return
        new_topics = [
            NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=settings.topic_replication_factor,
                topic_configs=spec.kafka_configs(),
            )
            for spec in missing
        ]
        with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent starter created it first
            await admin.create_topics(new_topics)
        await _wait_for_metadata(admin, {spec.name for spec in missing})
        log.info("created topics", extra={"topics": sorted(spec.name for spec in missing)})
    finally:
        await admin.close()


async def _wait_for_metadata(admin: AIOKafkaAdminClient, names: set[str]) -> None:
    for _ in range(50):
        if names <= set(await admin.list_topics()):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"topics not visible after creation: {sorted(names)}")


async def partitions_of(bootstrap_servers: str, topics: list[str]) -> dict[str, list[int]]:
    """Partition numbers of each existing topic (a missing topic is absent from the answer)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        # Describing a missing topic makes a broker with auto-creation on create it with defaults.
        existing = [topic for topic in topics if topic in set(await admin.list_topics())]
        described = await admin.describe_topics(existing) if existing else []
    finally:
        await admin.close()
    return {
        item["topic"]: sorted(p["partition"] for p in item["partitions"])
        for item in described
        if item["error_code"] == 0 and item["partitions"]
    }
