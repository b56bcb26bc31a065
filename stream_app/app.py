"""The Faust application: configuration, topics and tables. Agents and views register themselves on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TableT

from openpool.settings import Settings
from openpool.topics import STAGE_ONE_TABLES, STAGE_TWO_TABLES
from stream_app.consumer import StreamFaustApp
from stream_app.lag import LagTracker
from stream_app.record_order import RecordOrder


@dataclass(frozen=True)
class StreamApp:
    app: faust.App
    settings: Settings
    events_topic: faust.TopicT
    jobs_topic: faust.TopicT
    file_ledger: TableT[str, Any]
    correlation: TableT[str, Any]
    connections: TableT[str, Any]
    earnings: TableT[str, Any]
    performance: TableT[str, Any]
    lag: LagTracker
    order: RecordOrder


WEB_BIND = "0.0.0.0"
"""The address of the read API (Faust's web server) on OPENPOOL_WEB_PORT."""

MIB = 1024 * 1024
# Faust's RocksDB defaults hold per database — one per table and partition: three 64 MiB
# write buffers and a 2 GiB block cache. A worker with 5 tables over 8 partitions could grow to gigabytes,
# and even 4 MiB buffers fill slowly across 40 databases, which reads as a leak for hours. Our values are
# small (a few KB per key): at most 4 MiB per database serves them (docs/resources.md).
ROCKSDB_OPTIONS = {
    "write_buffer_size": 1 * MIB,
    "max_write_buffer_number": 2,
    "target_file_size_base": 4 * MIB,
    "block_cache_size": 2 * MIB,
}


def _broker_urls(bootstrap: str) -> str:
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap.split(",") if server.strip())


def create_app(settings: Settings) -> StreamApp:
    app = StreamFaustApp(
        settings.app_id,
        broker=_broker_urls(settings.kafka_bootstrap_servers),
        store="rocksdb://",
        datadir=str(settings.data_dir),
        topic_partitions=settings.events_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        # No standby replicas. A worker that had been standby for a table partition and then became its active
        # owner lost an earnings entry in the fault loop (seed 1186970128, trial 71): its database's persisted
        # offset covered changelog records its database did not hold, so Faust's recovery read nothing and the
        # worker's next write of that key dropped the value (RELIABILITY.md). Without standbys the persisted
        # offset only moves through active recovery, which finishes before the agents start, and through the
        # owner's own writes; a new owner restores what it lacks before it processes anything.
        table_standby_replicas=0,
        producer_acks=-1,
        # Faust's default of 0 sends nearly every record in its own request. A batch's checkpoint awaits its
        # outputs' acks once, so a few milliseconds of linger cost each batch, not each record.
        producer_linger=0.005,
        producer_max_batch_size=256 * 1024,
        # Records buffered per partition for the agents: several of their batches (stream_app.checkpoint).
        stream_buffer_maxsize=16_384,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=WEB_BIND,
        # The built-in endpoints would serve table contents and cluster topology to anyone.
        web_tables_enabled=False,
        web_router_enabled=False,
        web_stats_enabled=False,
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=settings.kafka_heartbeat_interval_seconds,
    )
    events_topic = app.topic(
        settings.topics.events,
        partitions=settings.events_partitions,
        key_serializer="raw",
        value_serializer="raw",
    )
    jobs_topic = app.topic(
        settings.topics.attributed_jobs,
        partitions=settings.worker_partitions,
        key_serializer="raw",
        value_serializer="raw",
    )

    def table(name: str, partitions: int) -> TableT[str, bytes]:
        # Values are JSON bytes the agents encode and decode themselves (stream_app/tables/write_back.py), once
        # per checkpoint: Faust's own codec would encode every write and decode every record it restores.
        return app.Table(name, default=None, partitions=partitions, options=ROCKSDB_OPTIONS, value_type=bytes)

    file_ledger, correlation, connections = STAGE_ONE_TABLES
    earnings, performance = STAGE_TWO_TABLES
    return StreamApp(
        app=app,
        settings=settings,
        events_topic=events_topic,
        jobs_topic=jobs_topic,
        file_ledger=table(file_ledger, settings.events_partitions),
        correlation=table(correlation, settings.events_partitions),
        connections=table(connections, settings.events_partitions),
        earnings=table(earnings, settings.worker_partitions),
        performance=table(performance, settings.worker_partitions),
        lag=LagTracker(settings.app_id),
        order=RecordOrder((settings.topics.events, settings.topics.attributed_jobs)),
    )
