"""Assembles and runs one stream worker process: agents, read models, the read API, exports.

`openpool worker` runs this; `openpool run` adds the bridge in the same process and, with `--until-idle`,
stops once every S3 file is published, the consumer group has committed every record of the topics it
reads, a payout round has run (when OPENPOOL_PAYOUTS_ENABLED) and the exports are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast
from wsgiref.simple_server import WSGIServer

import faust
import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from openpool import health_endpoint
from openpool.dead_letters import DeadLetterWriter
from openpool.health_endpoint import HEARTBEAT_INTERVAL_SECONDS, HealthEndpoint, LoopHeartbeat
from openpool.logs import json_logging_config
from openpool.metrics import REBALANCES, TABLE_KEYS, TABLE_RECOVERY_IN_PROGRESS
from openpool.ports import check_free
from openpool.settings import Settings
from openpool.topics import ensure_topics, owned_topics, partitions_of
from payments.payout_round import scheduled_round
from stream_app.agents import exports, partition_events, worker_ledger
from stream_app.app import WEB_BIND, StreamApp, create_app
from stream_app.consumer import ProcessedOnlyConsumer
from stream_app.local_state import discard_unless_clean, mark_clean
from stream_app.offset_order import REWIND_RETRY_SECONDS
from stream_app.read_models import ReadModel
from stream_app.readiness import readiness_conditions
from stream_app.tables.changelog_restore import restore_tables
from stream_app.web import register_views

log = logging.getLogger(__name__)

IDLE_CHECKS = 3
TABLE_KEYS_INTERVAL_SECONDS = 60.0
LAG_REFRESH_SECONDS = 1.0
"""A batch of thousands of records takes well under a second: a slower refresh misses whole backlogs."""


class _FaustProducer:
    """Everything the agents send goes through Faust's producer, which Faust flushes before it commits offsets."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def send(self, topic: str, *, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> Any:
        return await self._app.producer.send(topic, key, value, None, None, headers)

    async def send_record(self, topic: str, key: bytes, value: bytes | None) -> Any:
        return await self._app.producer.send(topic, key, value, None, None, None)


def build(settings: Settings) -> tuple[StreamApp, dict[str, ReadModel]]:
    stream_app = create_app(settings)
    producer = _FaustProducer(stream_app.app)
    dead_letters = DeadLetterWriter(producer, settings.topics.dead_letters)
    stages = (
        partition_events.register(stream_app, dead_letters, producer.send_record),
        worker_ledger.register(stream_app, dead_letters, producer.send_record),
    )
    read_models = {
        "earnings": ReadModel(settings.kafka_bootstrap_servers, settings.topics.earnings),
        "connections": ReadModel(settings.kafka_bootstrap_servers, settings.topics.connections),
        "performance": ReadModel(settings.kafka_bootstrap_servers, settings.topics.performance),
        "pool_totals": ReadModel(settings.kafka_bootstrap_servers, settings.topics.pool_totals),
    }
    app = stream_app.app

    @app.task
    async def start_read_models() -> None:
        for model in read_models.values():
            await model.start()

    @app.timer(LAG_REFRESH_SECONDS)
    async def publish_lag() -> None:
        consumer = app.consumer
        stream_app.lag.publish(consumer.assignment(), consumer.highwater)
        recovery: Any = getattr(app.tables, "recovery", None)  # on the concrete TableManager only
        TABLE_RECOVERY_IN_PROGRESS.set(0 if recovery is not None and recovery.completed.is_set() else 1)

    @app.task
    async def count_table_keys() -> None:
        # From the start, not after a first interval: the series exist while the tables are restored.
        while True:
            for table in (
                stream_app.file_ledger,
                stream_app.correlation,
                stream_app.connections,
                stream_app.earnings,
                stream_app.performance,
            ):
                TABLE_KEYS.labels(table=table.name).set(len(table))
            await asyncio.sleep(TABLE_KEYS_INTERVAL_SECONDS)

    @app.timer(REWIND_RETRY_SECONDS)
    async def retry_rewinds() -> None:
        await stream_app.order.retry_rewinds(cast(ProcessedOnlyConsumer, app.consumer))

    @app.on_partitions_revoked.connect
    async def forget_values_on_revoke(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        for stage in stages:  # another worker may change these keys from now on
            stage.forget_clean()

    @app.on_partitions_assigned.connect
    async def count_rebalance(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        REBALANCES.inc()
        for stage in stages:
            stage.forget_clean()
        stream_app.order.assigned(args[0])  # the whole assignment after the rebalance

    @app.timer(settings.export_interval_seconds, on_leader=True)
    async def export_periodically() -> None:
        try:
            for model in read_models.values():
                await model.caught_up()
            await exports.write_exports(settings, read_models)
        except Exception:  # a failed export is retried next interval; it must not stop the worker
            log.exception("periodic export failed", extra={"bucket": settings.s3_metrics_bucket})

    if settings.payouts_enabled:
        # On the leader only; the WAL's transactional id fences a second payer even if two think they lead.
        @app.timer(settings.payment_sensor_interval_seconds, on_leader=True)
        async def pay_periodically() -> None:
            await scheduled_round(settings, read_models["earnings"])

    @app.on_before_shutdown.connect
    async def stop_read_models(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        for model in read_models.values():
            await model.stop()

    register_views(stream_app, read_models)
    return stream_app, read_models


async def lag_is_zero(settings: Settings) -> bool:
    """Whether the worker group has committed everything on the events and attributed-jobs topics."""
    topics = [settings.topics.events, settings.topics.attributed_jobs]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    await consumer.start()
    try:
        try:
            committed = await admin.list_consumer_group_offsets(settings.app_id)
        except GroupCoordinatorNotAvailableError:  # the group has not formed yet
            return False
        partitions = await partitions_of(settings.kafka_bootstrap_servers, topics)
        if set(partitions) != set(topics):
            return False
        tps = [TopicPartition(topic, partition) for topic in topics for partition in partitions[topic]]
        ends = await consumer.end_offsets(tps)
        for tp, end in ends.items():
            done = committed.get(tp)
            if end > 0 and (done is None or done.offset < end):
                return False
        return True
    finally:
        await consumer.stop()
        await admin.close()


def run(
    settings: Settings,
    *,
    until_idle: bool = False,
    before_idle: Callable[[], Awaitable[bool]] | None = None,
    bridge: Callable[[], Awaitable[int]] | None = None,
) -> None:
    """Run a worker until SIGTERM, or with `until_idle` until the work is done.

    `before_idle` (the in-process bridge, for `openpool run`) must return True once every S3 file is published;
    `bridge` is the continuously running in-process bridge of `openpool run` without `--until-idle`.
    A port it would listen on that is taken raises `PortTaken` before anything connects to Kafka.
    """
    health = health_endpoint.claim(settings.metrics_port)
    # Faust binds its web server once the worker is up, and takes no socket from us: check the port is free.
    check_free("OPENPOOL_WEB_PORT", settings.web_port, host=WEB_BIND)
    asyncio.run(ensure_topics(settings, owned_topics(settings)))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # uvloop: asyncio's own loop and selectors took about half the worker's CPU.
    asyncio.set_event_loop(uvloop.new_event_loop())
    stream_app, read_models = build(settings)
    app = stream_app.app

    if bridge is not None:

        @app.task
        async def run_bridge_in_process() -> None:
            await bridge()

    if until_idle:

        @app.task
        async def stop_when_idle() -> None:
            if before_idle is not None and not await before_idle():
                log.error("files were left unpublished; exports are written for what was published")
            idle = 0
            while idle < IDLE_CHECKS:
                await asyncio.sleep(1.0)
                idle = idle + 1 if await lag_is_zero(settings) else 0
            for model in read_models.values():
                await model.caught_up()
            if settings.payouts_enabled:
                await scheduled_round(settings, read_models["earnings"])
            await exports.write_exports(settings, read_models)
            log.info("idle: every record processed and exports written; stopping")
            os.kill(os.getpid(), signal.SIGTERM)

    heartbeat = _serve_health(app, health) if health is not None else None
    tabledir = Path(app.conf.tabledir)
    discard_unless_clean(tabledir)
    restore_before_start(app, settings, heartbeat)
    worker = faust.Worker(app, loglevel="INFO", quiet=True, logging_config=json_logging_config())
    try:
        worker.execute_from_commandline()
    except SystemExit as end:
        if end.code in (0, None) and app.crash_reason is None:
            mark_clean(tabledir)
        raise


def restore_before_start(app: faust.App, settings: Settings, heartbeat: LoopHeartbeat | None) -> None:
    """Fill the table databases from their changelogs in bulk before Faust starts, on the loop Faust runs on
    next. A restore that fails leaves each database a prefix of its changelog with the matching offset, and
    Faust's own (slower) recovery reads the rest. The loop beats the heartbeat meanwhile: /healthz answers
    during a long restore, as it does during Faust's, and the startup probe does not restart the pod."""

    async def restore() -> None:
        beating = asyncio.create_task(heartbeat.run()) if heartbeat is not None else None
        try:
            await restore_tables(app.tables.values(), settings.kafka_bootstrap_servers)
        finally:
            if beating is not None:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating

    try:
        asyncio.get_event_loop().run_until_complete(restore())
    except Exception as error:  # Faust's recovery is the fallback for any failure here
        log.warning("bulk table restore failed; Faust's recovery reads the changelogs", extra={"error": repr(error)})


def _serve_health(app: faust.App, server: WSGIServer) -> LoopHeartbeat:
    """/metrics, /healthz and /readyz on the metrics port's socket, answered from a thread: the loop beats the
    heartbeat and copies its readiness (partitions assigned, tables recovered) there every second."""
    heartbeat = LoopHeartbeat()
    readiness = {"partitions_assigned": False, "tables_recovered": False}

    @app.timer(HEARTBEAT_INTERVAL_SECONDS)
    async def beat() -> None:
        heartbeat.beat()
        readiness.update(readiness_conditions(app))

    health_endpoint.serve(server, HealthEndpoint(heartbeat, lambda: dict(readiness)))
    return heartbeat
