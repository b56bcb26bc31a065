"""Events per second of the stream app with one and with two `openpool worker` processes on the same data.

A pool is generated once (default: 4 minutes at 200 jobs/s over 100 workers, 30 % AI, seed 11: about 61,000
events in 21 files). For each worker count N, in turn and never two at once: a fresh sandbox of the local stack
(its own app id, topics and buckets) receives the same files, the bridge publishes them once (in this process),
then N `openpool worker` processes, each with its own data dir, web port and metrics port, are spawned together
on that backlog. Measured for each N:

- start-up: from spawning to each worker's first "Worker ready" (the line's own timestamp);
- processing time: from the first poll in which any worker's `openpool_records_processed_total{stage="stream"}`
  is above zero until the consumer group has committed the end offsets of the events and attributed-jobs topics
  (read from the broker). Polls are half a second apart and Faust commits every 2.8 s, so the time can be late
  by up to about 3 s: keep the data set large enough for that to be small;
- events/s: the distinct event ids on the events topic over the processing time;
- each worker's CPU seconds per wall second over the processing time and its peak RSS (VmHWM), from /proc, and
  the records it processed per stage (how the partitions fell to the workers).

The workers are then stopped with SIGTERM and their data dirs removed. All processes share the machine's cores
with Kafka, so the ratio says what a second process buys on this machine; the load average at the start of each
run is kept with it. Workers spawned together still join the group one after the other: the first may be given
every partition and start before a rebalance shares them out, which the processing time includes (the ready
times show it). The events are keyed by partition (`region|node_type`): the topic's records per partition, also
kept, bound how evenly N workers can share stage 1.

`python -m openpool.bench.scaling` (the local stack is started if needed) writes bench/scaling.json and prints a
markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from openpool.bench.machine import describe_machine
from openpool.bench.process_stats import cpu_seconds, resident_mib, scrape
from openpool.bench.soak import Echo
from openpool.bench.throughput import Rate, bridge_rate
from openpool.consumer_progress import ConsumerProgress, TopicProgress
from openpool.demo.pool import DemoPool
from openpool.generator import GeneratedDataSet, generate, upload
from openpool.pipeline_process import PipelineProcess, ProcessFailed, stack_up
from openpool.sandbox import Sandbox, create_buckets, free_port
from openpool.settings import Settings
from openpool.topic_reader import read_to_end
from openpool.topics import ensure_topics, owned_topics

ROOT = Path(".openpool/bench")
RESULTS = Path("bench/scaling.json")
PROCESS_COUNTS = (1, 2)
RECORDS_PROCESSED = "openpool_records_processed"
STREAM_STAGE = "stream"
READY = "Worker ready"
FLUSH_SECONDS = 60
READY_WITHIN_SECONDS = 300.0
DRAIN_WITHIN_SECONDS = 1800.0
POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 120.0
"""A clean shutdown flushes every table partition: more than `PipelineProcess.stop`'s default on a large state."""


def default_pool(minutes: float = 4.0, jobs_per_second: float = 200.0, workers: int = 100, seed: int = 11) -> DemoPool:
    """`minutes` of a pool of `workers` doing `jobs_per_second`, with the emitter's own flush interval (the demo
    shortens it) and the generator's other defaults (30 % AI); event times end when it is generated."""
    return DemoPool(minutes, workers, jobs_per_second, seed, FLUSH_SECONDS)


def describe_data_set(dataset: GeneratedDataSet) -> dict[str, Any]:
    return {
        "events": dataset.emitted_events,
        "files": len(dataset.manifest.files),
        "workers": dataset.config.workers,
        "uploads": len(dataset.uploads),
        "megabytes": round(dataset.size / 1e6, 1),
        "seed": dataset.seed,
        "generator": dataset.config.to_json(),
    }


async def publish(sandbox: Sandbox, dataset: GeneratedDataSet) -> Rate:
    """The data set in the sandbox's fresh buckets, published once by the bridge; returns the bridge's rate."""
    settings = sandbox.settings()
    await create_buckets(settings)
    await ensure_topics(settings, owned_topics(settings))
    await upload(dataset, settings)
    return await bridge_rate(settings)


@dataclass(frozen=True, slots=True)
class WorkerProcess:
    """An `openpool worker` with a data dir and ports of its own, so that several can run side by side."""

    process: PipelineProcess
    data_dir: Path
    metrics_url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def raise_if_exited(self) -> None:
        if self.process.returncode is not None:
            raise self.process.failure(f"the worker exited with {self.process.returncode} during the measurement")

    def cpu_seconds(self) -> float:
        self.raise_if_exited()
        used = cpu_seconds(self.pid)
        if used is None:
            raise self.process.failure("the worker's CPU time could not be read in /proc")
        return used

    def resident_mib(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MiB."""
        self.raise_if_exited()
        memory = resident_mib(self.pid)
        if memory is None:
            raise self.process.failure("the worker's memory could not be read in /proc")
        return memory


async def start_worker(sandbox: Sandbox, name: str) -> WorkerProcess:
    """`openpool worker` on the sandbox, with its data dir under the sandbox's and its log named `name`."""
    data_dir = sandbox.data_dir / name
    metrics_port = free_port()
    env = {
        **sandbox.env(),
        "OPENPOOL_DATA_DIR": str(data_dir),
        "OPENPOOL_WEB_PORT": str(free_port()),
        "OPENPOOL_METRICS_PORT": str(metrics_port),
    }
    process = await PipelineProcess.start(["worker"], env, sandbox.log_file(name))
    return WorkerProcess(process, data_dir, f"http://127.0.0.1:{metrics_port}/metrics")


def records_processed(metrics_text: str) -> dict[str, int]:
    """`openpool_records_processed_total` by stage."""
    return {
        sample.labels.get("stage", "?"): int(sample.value)
        for family in text_string_to_metric_families(metrics_text)
        if family.name == RECORDS_PROCESSED
        for sample in family.samples
        if sample.name.endswith("_total")
    }


async def processed_by(worker: WorkerProcess) -> dict[str, int]:
    """The worker's records processed by stage; empty while its metrics endpoint does not answer yet."""
    text = await scrape(worker.metrics_url)
    return {} if text is None else records_processed(text)


async def input_progress(progress: ConsumerProgress, settings: Settings) -> dict[str, TopicProgress]:
    """End and committed offsets of the stream app's two input topics, for its consumer group."""
    return await progress.of([settings.topics.events, settings.topics.attributed_jobs])


def drained(offsets: Mapping[str, TopicProgress]) -> bool:
    return any(one.end > 0 for one in offsets.values()) and all(one.lag == 0 for one in offsets.values())


@dataclass(frozen=True, slots=True)
class EventsTopic:
    records: int
    distinct_events: int
    """Distinct `event_id` headers: what the stream app has to process, whatever the bridge repeated."""
    records_by_partition: dict[int, int]


async def survey_events(settings: Settings) -> EventsTopic:
    ids: set[bytes] = set()
    by_partition: Counter[int] = Counter()
    async for record in read_to_end(settings.kafka_bootstrap_servers, settings.topics.events):
        by_partition[record.partition] += 1
        ids.add(dict(record.headers).get("event_id", b""))
    return EventsTopic(sum(by_partition.values()), len(ids), dict(sorted(by_partition.items())))


@dataclass(frozen=True, slots=True)
class WorkerFigures:
    ready_seconds: float
    """From spawning to its first "Worker ready"."""
    cpu_cores: float
    """CPU seconds per wall second over the processing time (1.0 = one core busy)."""
    peak_rss_mib: float
    """VmHWM when the group had drained."""
    records_processed: dict[str, int]


@dataclass(frozen=True, slots=True)
class ScalingRun:
    processes: int
    load_average_at_start: tuple[float, float, float]
    events: EventsTopic
    bridge_seconds: float
    first_record_seconds: float
    """From spawning the workers to the first poll that saw a stream record processed."""
    processing_seconds: float
    """From that poll to the one that saw the group drained."""
    workers: tuple[WorkerFigures, ...]

    @property
    def events_per_second(self) -> float:
        return self.events.distinct_events / self.processing_seconds if self.processing_seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "processes": self.processes,
            "load_average_at_start": [round(value, 2) for value in self.load_average_at_start],
            "events_topic": asdict(self.events),
            "bridge_seconds": round(self.bridge_seconds, 1),
            "first_record_seconds": round(self.first_record_seconds, 1),
            "processing_seconds": round(self.processing_seconds, 1),
            "events_per_second": round(self.events_per_second, 1),
            "workers": [
                {
                    "ready_seconds": round(one.ready_seconds, 1),
                    "cpu_cores": round(one.cpu_cores, 2),
                    "peak_rss_mib": round(one.peak_rss_mib, 1),
                    "records_processed": one.records_processed,
                }
                for one in self.workers
            ],
        }


@dataclass(frozen=True, slots=True)
class _Window:
    """Epoch times of the first stream record seen processed and of the drain, with each worker's CPU seconds."""

    first_at: float
    drained_at: float
    cpu_at_first: tuple[float, ...]
    cpu_at_drained: tuple[float, ...]

    def cores(self, worker: int) -> float:
        """CPU seconds per wall second of the `worker`-th worker over the window (1.0 = one core busy)."""
        wall = self.drained_at - self.first_at
        return (self.cpu_at_drained[worker] - self.cpu_at_first[worker]) / wall if wall > 0 else 0.0


async def measure_run(sandbox: Sandbox, dataset: GeneratedDataSet, processes: int) -> ScalingRun:
    """The data set published on `sandbox`, then `processes` workers on it until the group has drained."""
    bridge = await publish(sandbox, dataset)
    settings = sandbox.settings()
    events = await survey_events(settings)
    load = os.getloadavg()
    workers: list[WorkerProcess] = []
    try:
        for number in range(1, processes + 1):
            workers.append(await start_worker(sandbox, f"worker-{number}"))
        window = await _until_drained(settings, workers)
        figures = [await _figures(worker, window.cores(index)) for index, worker in enumerate(workers)]
    finally:
        await asyncio.gather(*(worker.process.stop(STOP_GRACE_SECONDS) for worker in workers))
        shutil.rmtree(sandbox.data_dir, ignore_errors=True)
    return ScalingRun(
        processes=processes,
        load_average_at_start=load,
        events=events,
        bridge_seconds=bridge.seconds,
        first_record_seconds=window.first_at - min(worker.process.started_at for worker in workers),
        processing_seconds=window.drained_at - window.first_at,
        workers=tuple(figures),
    )


async def _until_drained(settings: Settings, workers: Sequence[WorkerProcess]) -> _Window:
    deadline = time.monotonic() + DRAIN_WITHIN_SECONDS
    first: tuple[float, tuple[float, ...]] | None = None
    async with ConsumerProgress(settings.kafka_bootstrap_servers, settings.app_id) as progress:
        while True:
            for worker in workers:
                worker.raise_if_exited()
            if first is None and await _any_stream_record(workers):
                first = time.time(), tuple(worker.cpu_seconds() for worker in workers)
            if first is not None and drained(await input_progress(progress, settings)):
                return _Window(first[0], time.time(), first[1], tuple(worker.cpu_seconds() for worker in workers))
            if time.monotonic() > deadline:
                raise workers[0].process.failure(f"the group did not drain within {DRAIN_WITHIN_SECONDS:.0f} s")
            await asyncio.sleep(POLL_SECONDS)


async def _any_stream_record(workers: Sequence[WorkerProcess]) -> bool:
    processed = [await processed_by(worker) for worker in workers]
    return any(stages.get(STREAM_STAGE, 0) > 0 for stages in processed)


async def _figures(worker: WorkerProcess, cores: float) -> WorkerFigures:
    ready = await worker.process.wait_for_line(READY, READY_WITHIN_SECONDS)
    return WorkerFigures(
        ready_seconds=ready.at - worker.process.started_at,
        cpu_cores=cores,
        peak_rss_mib=worker.resident_mib()[1],
        records_processed=await processed_by(worker),
    )


async def measure(pool: DemoPool, counts: Sequence[int], root: Path, echo: Echo) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    machine = describe_machine()
    dataset = generate(pool.config(now), pool.seed)
    echo(f"generated {dataset.emitted_events:,} events in {len(dataset.manifest.files)} files (seed {pool.seed})")
    base = Sandbox.create("scaling", root, now)
    runs: list[ScalingRun] = []
    for processes in counts:
        sandbox = base.named(f"{processes}-workers")
        echo(f"{processes} worker process(es) on {sandbox.app_id} (logs in {sandbox.folder}) ...")
        runs.append(await measure_run(sandbox, dataset, processes))
        echo(f"  {runs[-1].events_per_second:,.0f} events/s over {runs[-1].processing_seconds:.1f} s")
    return {
        "machine": machine,
        "data_set": describe_data_set(dataset),
        "runs": [run.to_json() for run in runs],
        "events_per_second_ratio": _ratios(runs),
    }


def _ratios(runs: Sequence[ScalingRun]) -> dict[str, float]:
    """Each run's events/s over the first run's, e.g. {"2:1": 1.6}."""
    first = runs[0]
    return {
        f"{run.processes}:{first.processes}": round(run.events_per_second / first.events_per_second, 2)
        for run in runs[1:]
        if first.events_per_second > 0
    }


def markdown_table(results: dict[str, Any]) -> str:
    rows = [
        "| worker processes | distinct events | ready (s) | processing (s) | events/s | CPU per worker (cores) "
        "| peak RSS per worker (MiB) | load average at start |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        workers = run["workers"]
        rows.append(
            f"| {run['processes']} | {run['events_topic']['distinct_events']:,} | "
            f"{' / '.join(str(one['ready_seconds']) for one in workers)} | {run['processing_seconds']} | "
            f"{run['events_per_second']:,} | {' / '.join(str(one['cpu_cores']) for one in workers)} | "
            f"{' / '.join(str(one['peak_rss_mib']) for one in workers)} | "
            f"{' / '.join(str(value) for value in run['load_average_at_start'])} |"
        )
    ratios = "; ".join(f"{pair} workers: {ratio}×" for pair, ratio in results["events_per_second_ratio"].items())
    return "\n".join(rows) + (f"\n\nevents/s ratio {ratios}" if ratios else "")


def pool_arguments(parser: argparse.ArgumentParser, default: DemoPool, results: Path) -> None:
    """The options of the generated pool, and where the results go."""
    parser.add_argument("--minutes", type=float, default=default.minutes, help="of generated pool")
    parser.add_argument("--jobs-per-second", type=float, default=default.jobs_per_second, help="the pool's load")
    parser.add_argument("--workers", type=int, default=default.workers, help="the pool's workers (not processes)")
    parser.add_argument("--seed", type=int, default=default.seed, help="same seed and options, same data")
    parser.add_argument("--results", type=Path, default=results, help="the JSON written")


def pool_of(arguments: argparse.Namespace) -> DemoPool:
    return default_pool(arguments.minutes, arguments.jobs_per_second, arguments.workers, arguments.seed)


def run_and_write(
    measurement: Callable[[Echo], Coroutine[Any, Any, dict[str, Any]]],
    results: Path,
    render: Callable[[dict[str, Any]], str],
) -> None:
    """On the local stack (started if needed): the measurement, its results as JSON, then rendered on stdout."""
    stack_up()
    try:
        figures = asyncio.run(measurement(lambda line: print(line, file=sys.stderr)))
    except ProcessFailed as error:
        sys.exit(f"{results.stem}: {error}")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(render(figures) + f"\n\nWrote {results}.\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m openpool.bench.scaling",
        description="Events/s with one and with two worker processes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    pool_arguments(parser, default_pool(), RESULTS)
    parser.add_argument(
        "--processes", type=int, nargs="+", default=list(PROCESS_COUNTS), help="worker process counts, in turn"
    )
    arguments = parser.parse_args(argv)
    pool = pool_of(arguments)
    run_and_write(lambda echo: measure(pool, arguments.processes, ROOT, echo), arguments.results, markdown_table)


if __name__ == "__main__":
    main()
