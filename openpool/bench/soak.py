"""Sustained load: twice the benchmark rate for ten minutes; memory stays bounded and lag returns to zero.

`openpool run` (bridge polling every second + stream app + exports, not `--until-idle`) runs on a fresh sandbox
of the local stack while a clean generated pool (one file per partition per second) is uploaded on its schedule
at the target rate. Every few seconds the run samples the `openpool run` process's resident memory and CPU
(/proc), the consumer group's lag in records (end minus committed offsets on the events and attributed-jobs
topics, as an operator reads it from the broker), the worker's own lag in seconds (its
`openpool_consumer_lag_seconds` gauge) and how many events were uploaded, published and processed. When the
uploads end it keeps sampling until every uploaded event is published and committed, within a bound.

The benchmark rate is the highest offered rate the latest `make bench` sustained (bench/results.json: the
latency runs whose every probe arrived without latency climbing), `DEFAULT_BENCHMARK_RATE` without one.

Verdicts: memory is bounded when the peak RSS of the load's last third is at most `RSS_GROWTH_LIMIT` above the
peak of its first third: the first third holds the warm-up (read models, caches and Kafka buffers reaching their
working size), so what grows after it grows with the events — a leak, or a buffer whose ceiling is far above the
working set. RocksDB's memtables are such a buffer: each table partition holds up to its write buffer size of
unflushed writes (Faust's default: 64 MiB, up to 3 of them), so the samples also record the unflushed table
writes, and the summary RSS growth beyond them, to tell the two apart. Lag returned to zero when the group drained
within the bound after the load stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpool.bench.latency import LoadPlan, load_config
from openpool.bench.machine import describe_machine
from openpool.bench.process_stats import consumer_lag_seconds, cpu_seconds, resident_mib, scrape
from openpool.consumer_progress import ConsumerProgress
from openpool.generator import GeneratedDataSet, generate
from openpool.pipeline_process import PipelineProcess
from openpool.s3_client import s3_client
from openpool.sandbox import Sandbox, create_buckets
from openpool.settings import Settings
from openpool.topics import ensure_topics, owned_topics

DEFAULT_BENCHMARK_RATE = 100.0
"""Events/s, when no bench result names a sustained rate: a round figure below every rate `make bench` has
sustained on the 2-core development machine (126 events/s offered on 2026-11-25, before the stream app's
throughput doubled), so that twice it is still a load a healthy pipeline can carry."""
LOAD_FACTOR = 2.0
RSS_GROWTH_LIMIT = 0.20
"""The last third's peak RSS may exceed the first third's by this share: allocator and GC noise and RocksDB
compactions move RSS by a few percent; a leak at this load grows it by more within minutes."""
DEFAULT_SECONDS = 600.0
DEFAULT_DRAIN_WITHIN_SECONDS = 600.0
DEFAULT_SAMPLE_SECONDS = 5.0
DRAIN_SAMPLE_SECONDS = 1.0
READY_WITHIN_SECONDS = 180.0
PROGRESS_EVERY_SECONDS = 60.0

Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BenchmarkRate:
    events_per_second: float
    source: str
    """Where the rate comes from, as a reader of the report needs it."""


def benchmark_rate(results: Mapping[str, Any] | None, origin: str) -> BenchmarkRate:
    """The highest offered rate a bench run sustained, from its results (`bench/results.json` as read from
    `origin`); `DEFAULT_BENCHMARK_RATE` when there are no results or no latency run was sustained."""
    sustained = [
        float(details["offered_events_per_second"])
        for figure in (results or {}).get("figures", {}).values()
        if isinstance(details := figure.get("details"), dict)
        and details.get("sustained") is True
        and isinstance(details.get("offered_events_per_second"), int | float)
    ]
    if not sustained:
        reason = "no results" if results is None else "no sustained latency run"
        return BenchmarkRate(DEFAULT_BENCHMARK_RATE, f"the default ({reason} in {origin})")
    started = (results or {}).get("started_at", "an unknown time")
    return BenchmarkRate(max(sustained), f"the highest sustained offered rate in {origin} (bench of {started})")


def read_benchmark_rate(results: Path) -> BenchmarkRate:
    loaded = json.loads(results.read_text(encoding="utf-8")) if results.exists() else None
    return benchmark_rate(loaded, str(results))


@dataclass(frozen=True, slots=True)
class SoakPlan:
    events_per_second: float
    basis: str
    """How the rate was chosen (twice the benchmark rate, or given)."""
    seconds: float = DEFAULT_SECONDS
    drain_within_seconds: float = DEFAULT_DRAIN_WITHIN_SECONDS
    sample_seconds: float = DEFAULT_SAMPLE_SECONDS
    rss_growth_limit: float = RSS_GROWTH_LIMIT
    seed: int = 17

    @classmethod
    def at_twice(cls, rate: BenchmarkRate) -> SoakPlan:
        basis = f"{LOAD_FACTOR:g} × {rate.events_per_second:,.1f} events/s, {rate.source}"
        return cls(LOAD_FACTOR * rate.events_per_second, basis)


@dataclass(frozen=True, slots=True)
class SoakSample:
    at: float
    """Seconds since the first upload."""
    loading: bool
    """Taken while files were still being uploaded (else: while draining)."""
    rss_mib: float
    unflushed_table_mib: float
    """The RocksDB write-ahead logs in the worker's data dir: table writes its memtables still hold in memory
    (RocksDB deletes a log once the memtable it backs is flushed to disk)."""
    cpu_seconds: float
    """CPU time `openpool run` has used since it started."""
    load_average: float
    """The machine's 1-minute load average: other processes share the cores."""
    events_uploaded: int
    events_published: int
    """Records on the events topic."""
    events_processed: int
    """Records of the events topic the worker group has committed."""
    lag_records: int
    """End minus committed offsets over the events and attributed-jobs topics."""
    lag_seconds: float | None
    """The worker's largest `openpool_consumer_lag_seconds` (None: its metrics did not answer)."""


@dataclass(frozen=True, slots=True)
class MemoryVerdict:
    first_third_peak_mib: float
    last_third_peak_mib: float
    limit: float

    @property
    def growth(self) -> float:
        return self.last_third_peak_mib / self.first_third_peak_mib - 1

    @property
    def bounded(self) -> bool:
        return self.growth <= self.limit


def resident(sample: SoakSample) -> float:
    return sample.rss_mib


def resident_beyond_memtables(sample: SoakSample) -> float:
    """RSS less the table writes RocksDB holds unflushed: what grows in Python and the rest of the process."""
    return sample.rss_mib - sample.unflushed_table_mib


def memory_verdict(
    samples: Sequence[SoakSample],
    load_seconds: float,
    limit: float,
    measure: Callable[[SoakSample], float] = resident,
) -> MemoryVerdict:
    """The peak RSS (or another `measure`) of the load's first third against that of its last third."""
    loading = [sample for sample in samples if sample.loading]
    first = [measure(sample) for sample in loading if sample.at < load_seconds / 3]
    last = [measure(sample) for sample in loading if sample.at >= 2 * load_seconds / 3]
    if not first or not last:
        raise ValueError(f"{len(loading)} samples over {load_seconds:.0f} s leave a third of the load without one")
    return MemoryVerdict(max(first), max(last), limit)


def cores_between(earlier: SoakSample, later: SoakSample) -> float:
    """CPU seconds per wall second between two samples (1.0 = one core busy)."""
    span = later.at - earlier.at
    return (later.cpu_seconds - earlier.cpu_seconds) / span if span > 0 else 0.0


def _ends(samples: Sequence[SoakSample]) -> tuple[SoakSample, SoakSample]:
    return samples[0], samples[-1]


def at_steps(samples: Sequence[SoakSample], step_seconds: float) -> list[SoakSample]:
    """The first sample at or after each multiple of `step_seconds`, and the last one: RSS over time, in steps."""
    picked: list[SoakSample] = []
    due = 0.0
    for sample in samples:
        if sample.at >= due:
            picked.append(sample)
            due = (math.floor(sample.at / step_seconds) + 1) * step_seconds
    if samples and picked[-1] is not samples[-1]:
        picked.append(samples[-1])
    return picked


@dataclass(frozen=True, slots=True)
class SoakRun:
    plan: SoakPlan
    files: int
    events: int
    load_seconds: float
    """From the first upload until the last one completed."""
    drain_seconds: float | None
    """From the last upload until every event was published and committed; None if not within the bound."""
    samples: tuple[SoakSample, ...]
    machine: dict[str, Any]
    load_average_at_end: tuple[float, float, float]

    @property
    def offered_events_per_second(self) -> float:
        return self.events / self.load_seconds if self.load_seconds > 0 else 0.0

    @property
    def processed_events_per_second_under_load(self) -> float:
        """Events the group committed while the load ran, per second of load."""
        first, last = _ends([sample for sample in self.samples if sample.loading])
        return (last.events_processed - first.events_processed) / (last.at - first.at) if last.at > first.at else 0.0

    @property
    def memory(self) -> MemoryVerdict:
        return memory_verdict(self.samples, self.load_seconds, self.plan.rss_growth_limit)

    @property
    def memory_beyond_memtables(self) -> MemoryVerdict:
        """The same comparison without RocksDB's unflushed table writes: tells a leak from memtables filling."""
        return memory_verdict(self.samples, self.load_seconds, self.plan.rss_growth_limit, resident_beyond_memtables)

    @property
    def lag_returned_to_zero(self) -> bool:
        return self.drain_seconds is not None

    @property
    def passed(self) -> bool:
        return self.memory.bounded and self.lag_returned_to_zero

    def summary(self) -> dict[str, Any]:
        memory = self.memory
        lag_seconds = [sample.lag_seconds for sample in self.samples if sample.lag_seconds is not None]
        return {
            "target_events_per_second": round(self.plan.events_per_second, 1),
            "basis": self.plan.basis,
            "load_seconds": round(self.load_seconds, 1),
            "files": self.files,
            "events": self.events,
            "offered_events_per_second": round(self.offered_events_per_second, 1),
            "processed_events_per_second_under_load": round(self.processed_events_per_second_under_load, 1),
            "peak_rss_mib": round(max(sample.rss_mib for sample in self.samples), 1),
            "first_third_peak_rss_mib": round(memory.first_third_peak_mib, 1),
            "last_third_peak_rss_mib": round(memory.last_third_peak_mib, 1),
            "rss_growth": round(memory.growth, 4),
            "rss_growth_limit": memory.limit,
            "memory_bounded": memory.bounded,
            "peak_unflushed_table_mib": round(max(sample.unflushed_table_mib for sample in self.samples), 1),
            "rss_growth_beyond_unflushed_tables": round(self.memory_beyond_memtables.growth, 4),
            "cpu_cores_under_load": round(cores_between(*_ends([s for s in self.samples if s.loading])), 2),
            "max_lag_records": max(sample.lag_records for sample in self.samples),
            "max_lag_seconds": round(max(lag_seconds), 1) if lag_seconds else None,
            "drain_seconds": None if self.drain_seconds is None else round(self.drain_seconds, 1),
            "drain_within_seconds": self.plan.drain_within_seconds,
            "lag_returned_to_zero": self.lag_returned_to_zero,
            "load_average_at_start": self.machine.get("load_average_at_start"),
            "load_average_at_end": [round(value, 2) for value in self.load_average_at_end],
            "max_load_average_1min": round(max(sample.load_average for sample in self.samples), 2),
            "passed": self.passed,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "plan": asdict(self.plan),
            "summary": self.summary(),
            "rss_over_time": [
                {"at_seconds": round(sample.at), "rss_mib": round(sample.rss_mib, 1)}
                for sample in at_steps(self.samples, 60.0)
            ],
            "samples": [asdict(sample) for sample in self.samples],
        }


def render(run: SoakRun, step_seconds: float = 60.0) -> str:
    """The short report: the run over time at `step_seconds` steps, then the figures and the verdicts."""
    summary = run.summary()
    rows = [
        "|  time | phase | RSS (MiB) | unflushed tables (MiB) | CPU (cores) | lag (records) | lag (s) | uploaded "
        "| processed | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    steps = at_steps(run.samples, step_seconds)
    for previous, sample in zip([None, *steps], steps, strict=False):
        cores = "-" if previous is None else f"{cores_between(previous, sample):.2f}"
        lag = "-" if sample.lag_seconds is None else f"{sample.lag_seconds:.1f}"
        rows.append(
            f"| {_clock(sample.at)} | {'load' if sample.loading else 'drain'} | {sample.rss_mib:,.1f} | "
            f"{sample.unflushed_table_mib:,.1f} | {cores} | "
            f"{sample.lag_records:,} | {lag} | {sample.events_uploaded:,} | {sample.events_processed:,} | "
            f"{sample.load_average:.2f} |"
        )
    drain = (
        f"{summary['drain_seconds']:.1f} s"
        if summary["drain_seconds"] is not None
        else f"not within {run.plan.drain_within_seconds:.0f} s"
    )
    max_lag_seconds = "-" if summary["max_lag_seconds"] is None else f"{summary['max_lag_seconds']:.1f} s"
    load_start = " / ".join(f"{value:g}" for value in summary["load_average_at_start"] or [])
    load_end = " / ".join(f"{value:g}" for value in summary["load_average_at_end"])
    lines = [
        *rows,
        "",
        f"target rate        {summary['target_events_per_second']:,.1f} events/s ({run.plan.basis})",
        f"offered (achieved) {summary['offered_events_per_second']:,.1f} events/s: {run.events:,} events in "
        f"{run.files:,} files over {run.load_seconds:,.0f} s",
        f"processed          {summary['processed_events_per_second_under_load']:,.1f} events/s under load",
        f"peak RSS           {summary['peak_rss_mib']:,.1f} MiB; peak of the first third "
        f"{summary['first_third_peak_rss_mib']:,.1f}, of the last third {summary['last_third_peak_rss_mib']:,.1f} "
        f"({summary['rss_growth']:+.1%}, limit +{run.plan.rss_growth_limit:.0%}): "
        + ("bounded" if summary["memory_bounded"] else "NOT BOUNDED"),
        f"RocksDB memtables  up to {summary['peak_unflushed_table_mib']:,.1f} MiB of unflushed table writes; RSS "
        f"beyond them {summary['rss_growth_beyond_unflushed_tables']:+.1%} from the first third to the last",
        f"max lag            {summary['max_lag_records']:,} records, {max_lag_seconds}",
        f"drain              {drain} after the load stopped: "
        + ("lag back to zero" if summary["lag_returned_to_zero"] else "LAG NOT BACK TO ZERO"),
        f"load average       {load_start} at start, {load_end} at end (1/5/15 min), "
        f"1-min peak {summary['max_load_average_1min']:g}",
    ]
    return "\n".join(lines)


def unflushed_table_mib(data_dir: Path) -> float:
    """MiB of RocksDB write-ahead log under a worker's data dir (each table partition is a `<table>-<n>.db`)."""
    total = 0
    for log in data_dir.glob("**/*.db/*.log"):
        with contextlib.suppress(FileNotFoundError):  # flushed and deleted since the listing
            total += log.stat().st_size
    return total / 2**20


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60:2d}:{whole % 60:02d}"


async def run_soak(sandbox: Sandbox, plan: SoakPlan, echo: Echo) -> SoakRun:
    """`openpool run` on `sandbox` under the plan's load, sampled; its data dir is removed afterwards."""
    machine = describe_machine()
    kept = sandbox.with_settings(S3_SENSOR_INTERVAL_SECONDS="1", OPENPOOL_PAYOUTS_ENABLED="false")
    settings = kept.settings()
    await create_buckets(settings)
    await ensure_topics(settings, owned_topics(settings))
    process = await PipelineProcess.start(["run"], kept.env(), kept.log_file("run"))
    try:
        await process.wait_for_line("Worker ready", READY_WITHIN_SECONDS)
        load = LoadPlan(plan.events_per_second, plan.seconds, plan.drain_within_seconds, plan.seed)
        dataset = generate(load_config(load, datetime.now(UTC)), plan.seed)
        echo(
            f"Uploading {len(dataset.uploads):,} files ({dataset.emitted_events:,} events) over "
            f"{plan.seconds:,.0f} s to s3://{settings.s3_bucket}; `openpool run` is pid {process.pid}, "
            f"log {process.log}"
        )
        sampler = _Sampler(process, kept, settings, dataset, plan, echo)
        samples, load_seconds, drain_seconds = await sampler.run()
    finally:
        await process.stop()
        shutil.rmtree(kept.data_dir, ignore_errors=True)
    return SoakRun(
        plan=plan,
        files=len(dataset.uploads),
        events=dataset.emitted_events,
        load_seconds=load_seconds,
        drain_seconds=drain_seconds,
        samples=tuple(samples),
        machine=machine,
        load_average_at_end=os.getloadavg(),
    )


class _Sampler:
    """Uploads the data set on schedule and samples `openpool run` until it has drained (or the bound passed)."""

    def __init__(
        self,
        process: PipelineProcess,
        sandbox: Sandbox,
        settings: Settings,
        dataset: GeneratedDataSet,
        plan: SoakPlan,
        echo: Echo,
    ) -> None:
        self._process = process
        self._metrics_url = sandbox.metrics_url
        self._data_dir = sandbox.data_dir
        self._settings = settings
        self._topics = [settings.topics.events, settings.topics.attributed_jobs]
        self._dataset = dataset
        self._plan = plan
        self._echo = echo
        self._events_uploaded = 0
        self._began = 0.0
        self._reported: SoakSample | None = None

    async def run(self) -> tuple[list[SoakSample], float, float | None]:
        """(samples, load seconds, drain seconds or None if the lag was not back to zero within the bound)."""
        samples: list[SoakSample] = []
        async with ConsumerProgress(self._settings.kafka_bootstrap_servers, self._settings.app_id) as progress:
            self._began = time.monotonic()
            uploader = asyncio.create_task(self._upload_on_schedule())
            try:
                while not uploader.done():
                    samples.append(await self._sample(progress, loading=True))
                    self._report(samples[-1])
                    await asyncio.wait([uploader], timeout=self._until_next(samples[-1], self._plan.sample_seconds))
                load_seconds = await uploader
                while True:
                    sample = await self._sample(progress, loading=False)
                    samples.append(sample)
                    self._report(sample)
                    if sample.events_published >= self._dataset.emitted_events and sample.lag_records == 0:
                        return samples, load_seconds, sample.at - load_seconds
                    if sample.at - load_seconds > self._plan.drain_within_seconds:
                        return samples, load_seconds, None
                    await asyncio.sleep(self._until_next(sample, DRAIN_SAMPLE_SECONDS))
            finally:
                uploader.cancel()
                await asyncio.gather(uploader, return_exceptions=True)

    def _until_next(self, sample: SoakSample, interval: float) -> float:
        return max(interval - (time.monotonic() - self._began - sample.at), 0.0)

    def _report(self, sample: SoakSample) -> None:
        """A progress line about once a minute."""
        previous = self._reported
        if previous is None:
            self._reported = sample
            return
        if sample.at - previous.at < PROGRESS_EVERY_SECONDS:
            return
        lag = "-" if sample.lag_seconds is None else f"{sample.lag_seconds:.1f} s"
        self._echo(
            f"  {_clock(sample.at)} {'load ' if sample.loading else 'drain'} RSS {sample.rss_mib:,.0f} MiB, "
            f"CPU {cores_between(previous, sample):.2f} cores, lag {sample.lag_records:,} records ({lag}), "
            f"processed {sample.events_processed:,} of {sample.events_uploaded:,} uploaded, "
            f"load avg {sample.load_average:.1f}"
        )
        self._reported = sample

    async def _sample(self, progress: ConsumerProgress, *, loading: bool) -> SoakSample:
        process = self._process
        if process.returncode is not None:
            raise process.failure(f"`openpool run` exited with {process.returncode} during the soak")
        now = time.monotonic()
        memory, used = resident_mib(process.pid), cpu_seconds(process.pid)
        if memory is None or used is None:
            raise process.failure("`openpool run` could not be read in /proc")
        offsets = await progress.of(self._topics)
        metrics = await scrape(self._metrics_url)
        events = offsets[self._settings.topics.events]
        return SoakSample(
            at=now - self._began,
            loading=loading,
            rss_mib=memory[0],
            unflushed_table_mib=unflushed_table_mib(self._data_dir),
            cpu_seconds=used,
            load_average=os.getloadavg()[0],
            events_uploaded=self._events_uploaded,
            events_published=events.end,
            events_processed=events.committed,
            lag_records=sum(offset.lag for offset in offsets.values()),
            lag_seconds=None if metrics is None else consumer_lag_seconds(metrics),
        )

    async def _upload_on_schedule(self) -> float:
        """PUT each file at its time after the start (at once when behind); returns the seconds it took."""
        settings = self._settings
        async with s3_client(settings) as client:
            for upload in self._dataset.uploads:
                delay = self._began + upload.at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await client.put_object(
                    Bucket=settings.s3_bucket, Key=upload.key, Body=upload.body, ContentType="application/json"
                )
                self._events_uploaded += len(self._dataset.event_files[upload.file].emissions)
        return time.monotonic() - self._began
