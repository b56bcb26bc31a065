"""Peak memory and CPU of each process of the pipeline through a realistic run: what the Kubernetes requests and
limits are sized from (docs/resources.md).

The demo's pool (3 minutes of a busy 40-worker pool, seed 7: about 22,000 events with late, duplicated and
malformed files) is uploaded to a fresh sandbox of the local stack; then `openpool worker`, `openpool payments
run` and `openpool bridge` run as separate processes, as in the cluster, each sampled from /proc every half
second until the worker group has committed every record and the payer has finished a round after that. Then
the worker starts again on an empty data dir and is sampled until it has restored its tables from the
changelogs and is ready: the start-up a pod without its volume goes through.

`python -m openpool.bench.footprint` (the local stack is started if needed) writes bench/footprint.json and
prints the table docs/resources.md quotes.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from openpool.bench.machine import describe_machine
from openpool.bench.process_stats import cpu_seconds, resident_mib
from openpool.consumer_progress import ConsumerProgress
from openpool.demo.pool import DemoPool, threshold_paying
from openpool.domain.commission import CommissionRate
from openpool.generator import generate, upload
from openpool.pipeline_process import PipelineProcess, stack_up
from openpool.sandbox import Sandbox, create_buckets, free_port
from openpool.settings import Settings
from openpool.topics import ensure_topics, owned_topics

ROOT = Path(".openpool/bench")
RESULTS = Path("bench/footprint.json")
SAMPLE_SECONDS = 0.5
PEAK_WINDOW_SECONDS = 5.0
PAID_WORKERS = 10
WITHIN_SECONDS = 900.0


@dataclass(slots=True)
class _Sampled:
    """(wall time, CPU seconds) pairs and the highest VmHWM seen, of one process."""

    pid: int
    cpu: list[tuple[float, float]] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    last_rss_mib: float = 0.0

    def sample(self) -> None:
        used, memory = cpu_seconds(self.pid), resident_mib(self.pid)
        if used is None or memory is None:  # the process has exited
            return
        self.cpu.append((time.monotonic(), used))
        self.last_rss_mib, self.peak_rss_mib = memory[0], max(self.peak_rss_mib, memory[1])


@dataclass(frozen=True, slots=True)
class Footprint:
    seconds: float
    peak_rss_mib: float
    """VmHWM: the most resident memory the process ever held."""
    rss_at_end_mib: float
    mean_cores: float
    """CPU seconds per wall second over the whole phase (1.0 = one core busy)."""
    peak_cores: float
    """The highest CPU seconds per wall second over any 5 s window."""

    @classmethod
    def of(cls, cpu: Sequence[tuple[float, float]], peak_rss_mib: float, rss_at_end_mib: float) -> Footprint:
        """From (wall time, CPU seconds) samples in time order and the memory figures."""
        seconds = cpu[-1][0] - cpu[0][0] if len(cpu) > 1 else 0.0
        peak = 0.0
        start = 0
        for end in range(len(cpu)):
            while cpu[end][0] - cpu[start][0] > PEAK_WINDOW_SECONDS:
                start += 1
            span = cpu[end][0] - cpu[start][0]
            if span >= PEAK_WINDOW_SECONDS * 0.8:
                peak = max(peak, (cpu[end][1] - cpu[start][1]) / span)
        mean = (cpu[-1][1] - cpu[0][1]) / seconds if seconds > 0 else 0.0
        return cls(round(seconds, 1), round(peak_rss_mib, 1), round(rss_at_end_mib, 1), round(mean, 2), round(peak, 2))


async def measure(root: Path = ROOT) -> dict[str, object]:
    now = datetime.now(UTC).replace(microsecond=0)
    pool = DemoPool()
    dataset = generate(pool.config(now), pool.seed)
    sandbox = Sandbox.create("footprint", root, now)
    rate = CommissionRate.from_decimal(sandbox.settings().pool_commission_rate)
    sandbox = sandbox.with_settings(
        PAYMENT_THRESHOLD_WEI=str(threshold_paying(dataset.manifest, rate, PAID_WORKERS)),
        PAYMENT_SENSOR_INTERVAL_SECONDS="10",
        S3_SENSOR_INTERVAL_SECONDS="5",
    )
    settings = sandbox.settings()
    await create_buckets(settings)
    await ensure_topics(settings, owned_topics(settings))
    await upload(dataset, settings)

    began = time.monotonic()
    worker = await _start(sandbox, "worker", ["worker"], sandbox.metrics_port)
    payer = await _start(sandbox, "payer", ["payments", "run"], free_port())
    try:
        await worker.wait_for_line("Worker ready", WITHIN_SECONDS)
        bridge = await _start(sandbox, "bridge", ["bridge"], free_port())
        try:
            sampled = {name: _Sampled(p.pid) for name, p in (("worker", worker), ("bridge", bridge), ("payer", payer))}
            await _until_processed_and_paid(settings, sampled, payer)
        finally:
            await bridge.stop()
    finally:
        await payer.stop()
        await worker.stop()
    run_seconds = time.monotonic() - began

    shutil.rmtree(sandbox.data_dir, ignore_errors=True)
    restoring = await _start(sandbox, "worker-restoring", ["worker"], sandbox.metrics_port)
    try:
        sampled["worker_restoring"] = _Sampled(restoring.pid)
        ready = asyncio.create_task(restoring.wait_for_line("Worker ready", WITHIN_SECONDS))
        while not ready.done():
            sampled["worker_restoring"].sample()
            await asyncio.sleep(SAMPLE_SECONDS)
        await ready
    finally:
        await restoring.stop()
    return {
        "machine": describe_machine(),
        "data_set": {
            "events": dataset.emitted_events,
            "files": len(dataset.manifest.files),
            "paid_workers": PAID_WORKERS,
            "seconds_to_process_and_pay": round(run_seconds, 1),
        },
        "processes": {
            name: asdict(Footprint.of(one.cpu, one.peak_rss_mib, one.last_rss_mib)) for name, one in sampled.items()
        },
    }


async def _start(sandbox: Sandbox, name: str, args: list[str], metrics_port: int) -> PipelineProcess:
    env = {**sandbox.env(), "OPENPOOL_METRICS_PORT": str(metrics_port)}
    return await PipelineProcess.start(args, env, sandbox.log_file(name))


async def _until_processed_and_paid(settings: Settings, sampled: dict[str, _Sampled], payer: PipelineProcess) -> None:
    topics = [settings.topics.events, settings.topics.attributed_jobs]
    deadline = time.monotonic() + WITHIN_SECONDS
    drained_at: int | None = None
    async with ConsumerProgress(settings.kafka_bootstrap_servers, settings.app_id) as progress:
        while True:
            for one in sampled.values():
                one.sample()
            if drained_at is None:
                offsets = await progress.of(topics)
                if offsets[settings.topics.events].end > 0 and all(o.lag == 0 for o in offsets.values()):
                    drained_at = len(payer.lines())
            elif any("payout round completed" in line for line in payer.lines()[drained_at:]):
                return
            if time.monotonic() > deadline:
                raise payer.failure(f"not processed and paid within {WITHIN_SECONDS:.0f} s")
            await asyncio.sleep(SAMPLE_SECONDS)


def markdown_table(results: dict[str, object]) -> str:
    processes = results["processes"]
    assert isinstance(processes, dict)
    rows = [
        "| process | phase seconds | peak RSS (MiB) | RSS at end (MiB) | mean CPU (cores) | peak CPU, 5 s (cores) |",
        "|---|---|---|---|---|---|",
    ]
    for name, figures in processes.items():
        rows.append(
            f"| {name} | {figures['seconds']} | {figures['peak_rss_mib']} | {figures['rss_at_end_mib']} | "
            f"{figures['mean_cores']} | {figures['peak_cores']} |"
        )
    return "\n".join(rows)


def main() -> None:
    stack_up()
    results = asyncio.run(measure())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(markdown_table(results) + f"\n\nWrote {RESULTS}.\n")


if __name__ == "__main__":
    main()
