"""End-to-end latency: a file's upload to S3 until its fee is in the earnings read model the API serves.

`openpool run` (bridge polling every second + stream app) runs on a fresh sandbox; files of a generated pool
(one per partition per second, no faults) are uploaded on their schedule at a fixed offered load, each carrying
a probe (bench/probes.py). Two tails see each probe arrive: the events topic (the bridge's part) and the
earnings topic (the whole way). A probe not seen within the drain time counts as infinitely late.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from openpool.bench.probes import Probe, with_probes
from openpool.consumer_progress import ConsumerProgress
from openpool.generator import GeneratorConfig, generate
from openpool.pipeline_process import PipelineProcess
from openpool.s3_client import s3_client
from openpool.sandbox import Sandbox, create_buckets
from openpool.settings import Settings
from openpool.topics import ensure_topics, owned_topics, partitions_of

AI_SHARE = 0.3
READY_WITHIN_SECONDS = 180.0
SUSTAINED_GROWTH_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class LoadPlan:
    events_per_second: float
    seconds: float
    drain_seconds: float
    seed: int = 11


@dataclass(frozen=True, slots=True)
class LatencySummary:
    probes: int
    seen: int
    p50: float
    p90: float
    p99: float
    max: float

    @property
    def all_seen(self) -> bool:
        return self.seen == self.probes

    def to_json(self) -> dict[str, Any]:
        def finite(value: float) -> float | None:
            return round(value, 3) if math.isfinite(value) else None

        return {
            "probes": self.probes,
            "seen": self.seen,
            "p50_seconds": finite(self.p50),
            "p90_seconds": finite(self.p90),
            "p99_seconds": finite(self.p99),
            "max_seconds": finite(self.max),
        }


@dataclass(frozen=True, slots=True)
class LatencyRun:
    plan: LoadPlan
    offered_events_per_second: float
    events: int
    files: int
    end_to_end: LatencySummary
    bridge_only: LatencySummary
    growth_seconds: float
    """Median latency of the last quarter of probes (in upload order) minus that of the first quarter."""
    lag_at_end: int

    @property
    def sustained(self) -> bool:
        """Every probe arrived, and latency did not climb over the run (a backlog that grows is not sustained)."""
        return self.end_to_end.all_seen and self.growth_seconds < SUSTAINED_GROWTH_SECONDS


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of the sorted `values` (`inf` stands for a probe never seen)."""
    if not values:
        return math.inf
    rank = max(math.ceil(q / 100 * len(values)), 1)
    return values[rank - 1]


def summarise(latencies: Sequence[float | None]) -> LatencySummary:
    ordered = sorted(math.inf if value is None else value for value in latencies)
    return LatencySummary(
        probes=len(ordered),
        seen=sum(1 for value in ordered if math.isfinite(value)),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
        max=ordered[-1] if ordered else math.inf,
    )


def growth(latencies: Sequence[float | None]) -> float:
    """How much later the last quarter's probes arrived than the first quarter's (medians; unseen = inf)."""
    values = [math.inf if value is None else value for value in latencies]
    quarter = max(len(values) // 4, 1)
    if len(values) < 2:
        return 0.0
    first, last = sorted(values[:quarter]), sorted(values[-quarter:])
    later = percentile(last, 50) - percentile(first, 50)
    return later if not math.isnan(later) else math.inf


def load_config(plan: LoadPlan, start: datetime) -> GeneratorConfig:
    """A clean pool (no faults) flushing every second; an AI job is two events, a transcode job one."""
    return GeneratorConfig(
        start=start,
        duration=timedelta(seconds=plan.seconds),
        workers=40,
        jobs_per_second=plan.events_per_second / (1 + AI_SHARE),
        ai_share=AI_SHARE,
        churn_per_hour=0.0,
        resets_per_hour=0.0,
        late_rate=0.0,
        duplicate_rate=0.0,
        unmatched_rate=0.0,
        malformed_rate=0.0,
        broken_file_rate=0.0,
        flush_seconds=1,
        flush_threshold=1_000_000,
    )


class _Arrivals:
    """First time each probe is seen on the events topic (by event ID) and on the earnings topic (by address)."""

    def __init__(self, settings: Settings, probes: Sequence[Probe]) -> None:
        self._settings = settings
        self._by_event_id = {probe.event_id.encode(): probe for probe in probes}
        self._by_address = {probe.address.encode(): probe for probe in probes}
        self.in_kafka: dict[str, float] = {}
        self.in_earnings: dict[str, float] = {}
        self._consumers: list[AIOKafkaConsumer] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        topics = self._settings.topics
        for topic, record_arrived in ((topics.events, self._event), (topics.earnings, self._earnings)):
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.kafka_bootstrap_servers,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            await consumer.start()
            numbers = (await partitions_of(self._settings.kafka_bootstrap_servers, [topic]))[topic]
            tps = [TopicPartition(topic, number) for number in numbers]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            self._consumers.append(consumer)
            self._tasks.append(asyncio.create_task(self._tail(consumer, record_arrived)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for consumer in self._consumers:
            await consumer.stop()

    def complete(self) -> bool:
        return len(self.in_earnings) == len(self._by_address)

    async def _tail(self, consumer: AIOKafkaConsumer, arrived: Any) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            now = time.time()
            for records in batches.values():
                for record in records:
                    arrived(record, now)

    def _event(self, record: Any, now: float) -> None:
        for name, value in record.headers or ():
            if name == "event_id" and value in self._by_event_id:
                self.in_kafka.setdefault(self._by_event_id[value].key, now)

    def _earnings(self, record: Any, now: float) -> None:
        probe = self._by_address.get(record.key)
        if probe is not None:
            self.in_earnings.setdefault(probe.key, now)


async def measure_latency(sandbox: Sandbox, plan: LoadPlan) -> LatencyRun:
    kept = sandbox.with_settings(
        S3_SENSOR_INTERVAL_SECONDS="1", OPENPOOL_EXPORT_INTERVAL_SECONDS="3600", OPENPOOL_PAYOUTS_ENABLED="false"
    )
    settings = kept.settings()
    await create_buckets(settings)
    await ensure_topics(settings, owned_topics(settings))
    process = await PipelineProcess.start(["run"], kept.env(), kept.log_file("run"))
    arrivals: _Arrivals | None = None
    try:
        await process.wait_for_line("Worker ready", READY_WITHIN_SECONDS)
        dataset = generate(load_config(plan, datetime.now(UTC)), plan.seed)
        files, probes = with_probes(dataset.files, kept.app_id)
        schedule = [upload.at for upload in dataset.uploads]
        events = dataset.emitted_events + sum(2 if "/ai/" in probe.key else 1 for probe in probes)
        arrivals = _Arrivals(settings, probes)
        await arrivals.start()
        uploaded, took = await _upload_on_schedule(settings, files, schedule)
        deadline = time.monotonic() + plan.drain_seconds
        while not arrivals.complete() and time.monotonic() < deadline:
            if process.returncode is not None:
                raise process.failure(f"`openpool run` exited with {process.returncode} during the benchmark")
            await asyncio.sleep(0.2)
        async with ConsumerProgress(settings.kafka_bootstrap_servers, settings.app_id) as progress:
            offsets = await progress.of([settings.topics.events, settings.topics.attributed_jobs])
    finally:
        if arrivals is not None:
            await arrivals.stop()
        await process.stop()

    def latencies(arrived: dict[str, float]) -> list[float | None]:
        return [arrived[probe.key] - uploaded[probe.key] if probe.key in arrived else None for probe in probes]

    return LatencyRun(
        plan=plan,
        offered_events_per_second=events / took if took > 0 else 0.0,
        events=events,
        files=len(files),
        end_to_end=summarise(latencies(arrivals.in_earnings)),
        bridge_only=summarise(latencies(arrivals.in_kafka)),
        growth_seconds=growth(latencies(arrivals.in_earnings)),
        lag_at_end=sum(progress.lag for progress in offsets.values()),
    )


async def _upload_on_schedule(
    settings: Settings, files: Sequence[tuple[str, bytes]], schedule: Sequence[float]
) -> tuple[dict[str, float], float]:
    """PUT each file at its time after the start (or at once when behind); returns when each PUT completed."""
    uploaded: dict[str, float] = {}
    async with s3_client(settings) as client:
        began = time.monotonic()
        for (key, body), at in zip(files, schedule, strict=True):
            delay = began + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await client.put_object(Bucket=settings.s3_bucket, Key=key, Body=body, ContentType="application/json")
            uploaded[key] = time.time()
        took = time.monotonic() - began
    return uploaded, max(took, schedule[-1] if schedule else 0.0)
