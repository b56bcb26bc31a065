"""State size after about a million events, and whether the memory of the worker that built it stays bounded.

A pool is generated (default: 64 minutes at 200 jobs/s over 100 workers, seed 11: about 996,000 events in 322
files), uploaded to a fresh sandbox of the local stack and published once by the bridge (in this process); then one
`openpool worker` with an empty data dir works through the backlog. Every 10 s a sample records the seconds since
the worker was spawned, the records each stage has processed (`openpool_records_processed_total` on its metrics
endpoint), the events its consumer group has committed, its resident memory now and at its peak (VmRSS, VmHWM),
the size of its data dir on disk (allocated blocks, as du counts them) and the RocksDB write-ahead logs in it (table
writes the memtables still hold in memory). Each sample is printed as a JSON line as it is taken, so that a long
run can be followed.

Once the group has committed the end offsets of the events and attributed-jobs topics (or after `--max-seconds`:
the report then says it is partial), the worker is stopped with SIGTERM. After its clean shutdown (which flushes
the memtables) the data dir is measured again, in total and per table: each table's RocksDB partitions
(`<table>-<n>.db`) and backups together. Events/s is the events committed over the time from the worker's "Worker
ready" to the end. The data dir is removed afterwards; the logs stay in the sandbox's folder.

`python -m openpool.bench.state_size` (the local stack is started if needed) writes bench/state-size.json and
prints a summary. A smoke run: `--minutes 1 --jobs-per-second 50`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpool.bench.machine import describe_machine
from openpool.bench.scaling import (
    READY,
    ROOT,
    STOP_GRACE_SECONDS,
    WorkerProcess,
    default_pool,
    describe_data_set,
    drained,
    input_progress,
    pool_arguments,
    pool_of,
    processed_by,
    publish,
    run_and_write,
    start_worker,
)
from openpool.bench.soak import Echo, unflushed_table_mib
from openpool.consumer_progress import ConsumerProgress
from openpool.demo.pool import DemoPool
from openpool.generator import generate
from openpool.pipeline_process import line_time
from openpool.sandbox import Sandbox
from openpool.settings import Settings
from stream_app.local_state import CLEAN_SHUTDOWN_MARKER

RESULTS = Path("bench/state-size.json")
DEFAULT_POOL = default_pool(minutes=64.0, jobs_per_second=200.0, workers=100, seed=11)
DEFAULT_MAX_SECONDS = 7200.0
SAMPLE_SECONDS = 10.0
POLL_SECONDS = 1.0
_TABLE_DIR = re.compile(r"^(?P<table>.+)-(?:\d+\.db|backups)$")


@dataclass(frozen=True, slots=True)
class StateSample:
    seconds: float
    """Since the worker was spawned."""
    processed: dict[str, int]
    """Records processed, by stage."""
    events_committed: int
    rss_mib: float
    peak_rss_mib: float
    """VmHWM: the most resident memory the worker has held so far."""
    data_dir_mib: float
    unflushed_table_mib: float

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 1),
            "processed": self.processed,
            "events_committed": self.events_committed,
            "rss_mib": round(self.rss_mib, 1),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "data_dir_mib": round(self.data_dir_mib, 2),
            "unflushed_table_mib": round(self.unflushed_table_mib, 2),
        }


def disk_mib(path: Path) -> float:
    """MiB the files under `path` take on disk: their allocated blocks, as du counts them; 0 where there is none."""
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            with contextlib.suppress(FileNotFoundError):  # RocksDB deleted it since the listing
                total += (Path(folder) / name).lstat().st_blocks * 512
    return total / 2**20


def table_mib(data_dir: Path) -> dict[str, float]:
    """MiB on disk per table of a worker's data dir: its partitions' RocksDB dirs and its backups dir."""
    sizes: dict[str, float] = {}
    for entry in sorted(data_dir.glob("*/tables/*")):
        match = _TABLE_DIR.match(entry.name)
        if match is not None and entry.is_dir():
            sizes[match["table"]] = sizes.get(match["table"], 0.0) + disk_mib(entry)
    return {table: round(mib, 2) for table, mib in sizes.items()}


async def measure(pool: DemoPool, max_seconds: float, root: Path, echo: Echo) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    machine = describe_machine()
    sandbox = Sandbox.create("state-size", root, now)
    data_set = await _publish(pool, sandbox, now, echo)
    worker = await start_worker(sandbox, "worker")
    echo(f"`openpool worker` is pid {worker.pid}, log {worker.process.log}; a sample every {SAMPLE_SECONDS:.0f} s:")
    try:
        samples, was_drained = await _follow(worker, sandbox.settings(), max_seconds)
    finally:
        stopping = time.monotonic()
        exit_code = await worker.process.stop(STOP_GRACE_SECONDS)
        shutdown_seconds = time.monotonic() - stopping
    try:
        after = {
            "exit_code": exit_code,
            "seconds": round(shutdown_seconds, 1),
            "clean": any(worker.data_dir.glob(f"*/tables/{CLEAN_SHUTDOWN_MARKER}")),
            "data_dir_mib": round(disk_mib(worker.data_dir), 2),
            "tables_mib": table_mib(worker.data_dir),
        }
    finally:
        shutil.rmtree(sandbox.data_dir, ignore_errors=True)
    summary = _summary(samples, was_drained, _ready_seconds(worker))
    return {"machine": machine, "data_set": data_set, **summary, "shutdown": after}


async def _publish(pool: DemoPool, sandbox: Sandbox, now: datetime, echo: Echo) -> dict[str, Any]:
    """Generated, uploaded and published once; only its description is kept, so the data set's memory is freed."""
    dataset = generate(pool.config(now), pool.seed)
    echo(
        f"generated {dataset.emitted_events:,} events in {len(dataset.manifest.files)} files; publishing them on "
        f"{sandbox.app_id} (logs in {sandbox.folder}) ..."
    )
    bridge = await publish(sandbox, dataset)
    return {**describe_data_set(dataset), "published": bridge.records, "bridge_seconds": round(bridge.seconds, 1)}


async def _follow(worker: WorkerProcess, settings: Settings, max_seconds: float) -> tuple[list[StateSample], bool]:
    """Samples every `SAMPLE_SECONDS`, and one at the end; returns them and whether the group drained."""
    samples: list[StateSample] = []
    async with ConsumerProgress(settings.kafka_bootstrap_servers, settings.app_id) as progress:
        while True:
            worker.raise_if_exited()
            offsets = await input_progress(progress, settings)
            seconds = time.time() - worker.process.started_at
            done = drained(offsets)
            end = done or seconds >= max_seconds
            if end or seconds >= (len(samples) + 1) * SAMPLE_SECONDS:
                samples.append(await _sample(worker, seconds, offsets[settings.topics.events].committed))
                print(json.dumps(samples[-1].to_json()), flush=True)
            if end:
                return samples, done
            await asyncio.sleep(POLL_SECONDS)


async def _sample(worker: WorkerProcess, seconds: float, events_committed: int) -> StateSample:
    rss, peak = worker.resident_mib()
    return StateSample(
        seconds=seconds,
        processed=await processed_by(worker),
        events_committed=events_committed,
        rss_mib=rss,
        peak_rss_mib=peak,
        data_dir_mib=disk_mib(worker.data_dir),
        unflushed_table_mib=unflushed_table_mib(worker.data_dir),
    )


def _ready_seconds(worker: WorkerProcess) -> float | None:
    """From spawning to the worker's first "Worker ready", by the line's own timestamp."""
    ready = next((line_time(line) for line in worker.process.lines() if READY in line), None)
    return None if ready is None else ready - worker.process.started_at


def _summary(samples: Sequence[StateSample], was_drained: bool, ready_seconds: float | None) -> dict[str, Any]:
    last = samples[-1]
    processing = None if ready_seconds is None else last.seconds - ready_seconds
    return {
        "drained": was_drained,
        "processed": {"events_committed": last.events_committed, "by_stage": last.processed},
        "seconds": {
            "to_ready": None if ready_seconds is None else round(ready_seconds, 1),
            "to_end": round(last.seconds, 1),
            "processing": None if processing is None else round(processing, 1),
        },
        "events_per_second": round(last.events_committed / processing, 1) if processing else None,
        "peak_rss_mib": round(max(sample.peak_rss_mib for sample in samples), 1),
        "rss_first_sample_mib": round(samples[0].rss_mib, 1),
        "rss_last_sample_mib": round(last.rss_mib, 1),
        "data_dir_peak_mib": round(max(sample.data_dir_mib for sample in samples), 2),
        "samples": [sample.to_json() for sample in samples],
    }


def render(results: dict[str, Any]) -> str:
    data_set, seconds, shutdown = results["data_set"], results["seconds"], results["shutdown"]
    state = "drained" if results["drained"] else f"PARTIAL: not drained after {seconds['to_end']} s"
    tables = ", ".join(f"{table} {mib:,.1f}" for table, mib in shutdown["tables_mib"].items())
    return "\n".join(
        [
            f"data set       {data_set['events']:,} events in {data_set['files']:,} files, {data_set['workers']} "
            f"workers; {data_set['published']:,} records published",
            f"processed      {results['processed']['events_committed']:,} events committed ({state}); by stage "
            f"{results['processed']['by_stage']}",
            f"time           ready after {seconds['to_ready']} s, processing {seconds['processing']} s: "
            f"{results['events_per_second']} events/s",
            f"memory         peak RSS {results['peak_rss_mib']:,.1f} MiB; RSS {results['rss_first_sample_mib']:,.1f} "
            f"MiB at the first sample, {results['rss_last_sample_mib']:,.1f} MiB at the last",
            f"data dir       peak {results['data_dir_peak_mib']:,.1f} MiB; {shutdown['data_dir_mib']:,.1f} MiB after "
            f"{'a clean' if shutdown['clean'] else 'an UNCLEAN'} shutdown ({shutdown['seconds']} s, exit "
            f"{shutdown['exit_code']})",
            f"tables (MiB)   {tables}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m openpool.bench.state_size",
        description="State size and worker memory after ~1M events.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    pool_arguments(parser, DEFAULT_POOL, RESULTS)
    parser.add_argument(
        "--max-seconds", type=float, default=DEFAULT_MAX_SECONDS, help="stop the worker then, drained or not"
    )
    arguments = parser.parse_args(argv)
    pool = pool_of(arguments)
    run_and_write(lambda echo: measure(pool, arguments.max_seconds, ROOT, echo), arguments.results, render)


if __name__ == "__main__":
    main()
