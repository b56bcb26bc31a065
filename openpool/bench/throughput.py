"""Throughput of the bridge and of the stream app, each against a plain aiokafka client doing the least.

- Bridge: S3 files to the events topic (`run_bridge(once=True)` in this process), against a producer with the
  bridge's own settings sending the very records the bridge wrote (read back from the topic).
- Stream app: `openpool worker` on those records, against a consumer that only reads and JSON-decodes them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from bridge.service import BridgeOptions, run_bridge
from openpool.bench.process_stats import cpu_seconds, records_per_batch, scrape
from openpool.consumer_progress import ConsumerProgress
from openpool.pipeline_process import LogLine, PipelineProcess
from openpool.sandbox import Sandbox
from openpool.settings import Settings
from openpool.topic_reader import read_to_end
from openpool.topics import TopicSpec, ensure_topics, partitions_of

READY_WITHIN_SECONDS = 180.0
POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Rate:
    records: int
    seconds: float
    cpu_cores: float | None = None
    """CPU seconds per wall second of the process doing the work, where measured (1.0 = one core busy)."""

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class StreamRate:
    events: Rate
    jobs_committed: int
    lag_at_end: int
    drained: bool
    ready: LogLine
    cpu_cores: float | None
    """CPU seconds the worker used per wall second of the window (1.0 = one core busy)."""
    records_per_batch: dict[str, float]
    """Mean records per batch an agent took, by stage (the worker's own histogram)."""


async def bridge_rate(settings: Settings) -> Rate:
    """Every file in the bucket published once; the topics exist beforehand, so their creation is not timed."""
    began, cpu_began = time.perf_counter(), time.process_time()
    status = await run_bridge(settings, BridgeOptions(), once=True, stop=asyncio.Event())
    took, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    if status != 0:
        raise RuntimeError(f"the bridge left files unpublished (exit status {status})")
    async with ConsumerProgress(settings.kafka_bootstrap_servers, settings.app_id) as progress:
        published = (await progress.ends([settings.topics.events]))[settings.topics.events]
    return Rate(published, took, cpu / took if took > 0 else None)


async def read_all(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    return [record async for record in read_to_end(bootstrap, topic)]


async def plain_producer_rate(settings: Settings, records: Sequence[ConsumerRecord[bytes, bytes]]) -> Rate:
    """The same keys, values and headers, to a topic of the same partition count, with the bridge's settings."""
    topic = f"{settings.app_id}.bench-plain-producer"
    partitions = len(
        (await partitions_of(settings.kafka_bootstrap_servers, [settings.topics.events]))[settings.topics.events]
    )
    await ensure_topics(settings, [TopicSpec(topic, partitions, compacted=False)])
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        began = time.perf_counter()
        acks = [
            await producer.send(topic, record.value, key=record.key, headers=list(record.headers)) for record in records
        ]
        await asyncio.gather(*acks)
        took = time.perf_counter() - began
    finally:
        await producer.stop()
    return Rate(len(records), took)


async def plain_consumer_rate(bootstrap: str, topics: Sequence[str], *, decode_json: bool) -> Rate:
    """Read every record of `topics` from the beginning (optionally `json.loads` each value); no group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        found = await partitions_of(bootstrap, list(topics))
        tps = [TopicPartition(topic, number) for topic in topics for number in found.get(topic, [])]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        count = 0
        began = time.perf_counter()
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    if decode_json and record.value is not None:
                        json.loads(record.value)
                    count += 1
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        took = time.perf_counter() - began
    finally:
        await consumer.stop()
    return Rate(count, took)


async def start_worker(sandbox: Sandbox, name: str) -> tuple[PipelineProcess, LogLine]:
    process = await PipelineProcess.start(["worker"], sandbox.env(), sandbox.log_file(name))
    try:
        ready = await process.wait_for_line("Worker ready", READY_WITHIN_SECONDS)
    except BaseException:
        await process.stop()
        raise
    return process, ready


async def stream_rate(sandbox: Sandbox, process: PipelineProcess, ready: LogLine, window_seconds: float) -> StreamRate:
    """Events committed by the worker from its readiness until the events and jobs topics are drained, or until
    `window_seconds` have passed. Faust commits every few seconds, which the window is long enough to absorb."""
    settings = sandbox.settings()
    events, jobs = settings.topics.events, settings.topics.attributed_jobs
    cpu_at_start, started = cpu_seconds(process.pid), time.time()
    async with ConsumerProgress(settings.kafka_bootstrap_servers, settings.app_id) as progress:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            now = time.time()
            offsets = await progress.of([events, jobs])
            drained = offsets[events].lag == 0 and offsets[jobs].lag == 0 and offsets[events].end > 0
            if drained or now - ready.at >= window_seconds:
                break
            if process.returncode is not None:
                raise process.failure(f"the worker exited with {process.returncode} during the benchmark")
    cpu_at_end = cpu_seconds(process.pid)
    cpu = None if cpu_at_start is None or cpu_at_end is None else (cpu_at_end - cpu_at_start) / (time.time() - started)
    metrics = await scrape(sandbox.metrics_url)
    return StreamRate(
        events=Rate(offsets[events].committed, now - ready.at),
        jobs_committed=offsets[jobs].committed,
        lag_at_end=offsets[events].lag + offsets[jobs].lag,
        drained=drained,
        ready=ready,
        cpu_cores=cpu,
        records_per_batch=records_per_batch(metrics) if metrics is not None else {},
    )
