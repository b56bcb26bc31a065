"""The bulk restore of the tables from their changelogs, against a real broker: what it leaves in each partition's
database is exactly what Faust's own restore would (last value per key, tombstones deleted, the persisted offset
of the last record read), a second run reads only what arrived since, and Faust's store reads the result."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from faust.types import TP

from openpool.health_endpoint import LoopHeartbeat
from openpool.settings import Settings, load_settings
from openpool.topics import changelog_topic, ensure_topics, owned_topics
from stream_app.tables.changelog_restore import OFFSET_KEY, restore_tables
from stream_app.worker import build, restore_before_start
from tests.stream_app.table_databases import database_items

pytestmark = pytest.mark.integration


def _settings(tmp_path: Path, kafka_bootstrap: str, name_prefix: str) -> Settings:
    return load_settings().model_copy(
        update={"data_dir": tmp_path, "app_id": name_prefix, "kafka_bootstrap_servers": kafka_bootstrap}
    )


async def _send(settings: Settings, table: str, records: list[tuple[int, bytes, bytes | None]]) -> None:
    """(partition, key, value) records on a table's changelog; a value of None is a tombstone."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for partition, key, value in records:
            await producer.send_and_wait(
                changelog_topic(settings.app_id, table),
                value,
                key=key,
                partition=partition,
            )
    finally:
        await producer.stop()


async def test_each_partition_database_holds_the_changelogs_last_values_and_the_offset_read(
    tmp_path: Path, kafka_bootstrap: str, name_prefix: str
) -> None:
    settings = _settings(tmp_path, kafka_bootstrap, name_prefix)
    await ensure_topics(settings, owned_topics(settings))
    await _send(
        settings,
        "earnings",
        [(1, b"0xa", b"1"), (1, b"0xb", b"2"), (1, b"0xa", b"3"), (1, b"0xb", None), (0, b"0xc", b"4")],
    )
    stream_app, _ = build(settings)
    earnings = stream_app.earnings

    first = await restore_tables(stream_app.app.tables.values(), kafka_bootstrap)

    assert (first.records, first.partitions, first.complete) == (5, 2, True)
    assert database_items(earnings, 1) == {b"0xa": b"3", OFFSET_KEY: b"3"}
    assert database_items(earnings, 0) == {b"0xc": b"4", OFFSET_KEY: b"0"}
    # A partition with an empty changelog gets no database of its own until Faust opens it.
    assert not any(Path(earnings.data.partition_path(n)).exists() for n in range(2, settings.worker_partitions))

    await _send(settings, "earnings", [(1, b"0xb", b"5")])
    second = await restore_tables(stream_app.app.tables.values(), kafka_bootstrap)

    assert (second.records, second.partitions) == (1, 1)  # only what arrived since the first run
    assert database_items(earnings, 1) == {b"0xa": b"3", b"0xb": b"5", OFFSET_KEY: b"4"}


async def test_faust_reads_the_restored_values_and_starts_its_recovery_after_them(
    tmp_path: Path, kafka_bootstrap: str, name_prefix: str
) -> None:
    settings = _settings(tmp_path, kafka_bootstrap, name_prefix)
    await ensure_topics(settings, owned_topics(settings))
    await _send(settings, "connections", [(2, b"0xd", b"online"), (2, b"0xe", b"offline"), (2, b"0xe", None)])
    stream_app, _ = build(settings)
    table = stream_app.connections

    await restore_tables(stream_app.app.tables.values(), kafka_bootstrap)

    store: Any = table.data  # opened the way Faust opens it when the partition is assigned
    assert store.persisted_offset(TP(table.changelog_topic.get_topic_name(), 2)) == 2
    assert store._db_for_partition(2).get(b"0xd") == b"online"
    assert store._db_for_partition(2).get(b"0xe") is None


def test_the_worker_beats_its_heartbeat_while_it_restores_the_tables(
    tmp_path: Path, kafka_bootstrap: str, name_prefix: str
) -> None:
    """/healthz answers from this heartbeat; without beats a long restore would be taken for a hung process."""
    settings = _settings(tmp_path, kafka_bootstrap, name_prefix)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(ensure_topics(settings, owned_topics(settings)))
        stream_app, _ = build(settings)
        heartbeat = LoopHeartbeat()

        restore_before_start(stream_app.app, settings, heartbeat)

        assert heartbeat.age_seconds() is not None
        assert not [task for task in asyncio.all_tasks(loop) if not task.done()]  # the beating stopped with it
    finally:
        asyncio.set_event_loop(None)
        loop.close()
