"""One demo: generate a pool's files, upload them, run bridge + stream app + payer, report what came out.

Each demo is a fresh sandbox (app id `demo-<time>`, its own buckets and data dir), so a second demo never
sees the first one's files or topics. Data dirs of earlier demos that are no longer running are removed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from openpool.demo.outcome import PipelineOutcome, performance_keys, read_outcome
from openpool.demo.pool import DemoPool, threshold_paying
from openpool.demo.progress import PipelineProgress, PipelineWatch, progress_line
from openpool.demo.report import DemoFacts, render_report
from openpool.domain.commission import CommissionRate
from openpool.generator import GeneratedDataSet, generate, upload
from openpool.pipeline_process import PipelineProcess
from openpool.sandbox import Sandbox, create_buckets, list_keys, port_or_free, read_json
from openpool.settings import Settings
from openpool.topics import ensure_topics, owned_topics

DEMO_ROOT = Path(".openpool/demo")
PROGRESS_EVERY_SECONDS = 5.0
RUN_MARKER = "running.pid"
METRICS_PORT = 9464
# Only `--keep-running` pays and exports on its timers; the run to idle does both once at the end.
KEPT_RUNNING_INTERVAL_SECONDS = "30"

Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DemoOptions:
    pool: DemoPool
    paid_workers: int
    keep_running: bool
    web_port: int
    root: Path = DEMO_ROOT


async def run_demo(options: DemoOptions, echo: Echo) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    sandbox = Sandbox.create(
        "demo", options.root, now, web_port=port_or_free(options.web_port), metrics_port=port_or_free(METRICS_PORT)
    )
    _remove_finished_demos(options.root, keep=sandbox.app_id, echo=echo)
    sandbox.folder.mkdir(parents=True, exist_ok=True)
    marker = sandbox.folder / RUN_MARKER
    marker.write_text(str(os.getpid()))
    try:
        await _demo(options, sandbox, now, echo)
    finally:
        marker.unlink(missing_ok=True)


async def _demo(options: DemoOptions, sandbox: Sandbox, now: datetime, echo: Echo) -> None:
    pool = options.pool
    echo(f"Generating {pool.minutes:g} min of a {pool.workers}-worker pool at {pool.jobs_per_second:g} jobs/s ...")
    dataset = generate(pool.config(now), pool.seed)
    rate = CommissionRate.from_decimal(sandbox.settings().pool_commission_rate)
    threshold = threshold_paying(dataset.manifest, rate, options.paid_workers)
    sandbox = sandbox.with_settings(PAYMENT_THRESHOLD_WEI=str(threshold), OPENPOOL_PAYOUTS_ENABLED="true")
    settings = sandbox.settings()
    echo(
        f"  {len(dataset.manifest.files)} files, {dataset.emitted_events:,} events, {dataset.size / 1e6:.1f} MB; "
        f"payout threshold {threshold:,} wei, which the {options.paid_workers} best-earning workers reach"
    )
    await _upload(dataset, settings, echo)
    echo(f"Running bridge + stream app + payer until idle (app id {sandbox.app_id}; log {sandbox.log_file('run')})")
    progress = await _run_until_idle(sandbox, settings, len(dataset.manifest.files), echo)
    outcome = await _outcome(settings)
    facts = _facts(sandbox, settings, dataset, threshold, progress)
    if not options.keep_running:
        echo(render_report(facts, outcome))
        return
    await _keep_running(sandbox, facts, outcome, echo)


async def _upload(dataset: GeneratedDataSet, settings: Settings, echo: Echo) -> None:
    began = time.monotonic()
    await create_buckets(settings)
    await ensure_topics(settings, owned_topics(settings))
    await upload(dataset, settings)
    echo(f"  uploaded {len(dataset.uploads)} files to s3://{settings.s3_bucket} in {time.monotonic() - began:.1f} s")


async def _run_until_idle(sandbox: Sandbox, settings: Settings, files_total: int, echo: Echo) -> PipelineProgress:
    process = await PipelineProcess.start(["run", "--until-idle"], sandbox.env(), sandbox.log_file("run"))
    began = time.monotonic()
    try:
        async with PipelineWatch(settings) as watch:
            while process.returncode is None:
                try:
                    await asyncio.wait_for(process.wait(), PROGRESS_EVERY_SECONDS)
                except TimeoutError:
                    echo(progress_line(await watch.progress(time.monotonic() - began), files_total))
            final = await watch.progress(time.monotonic() - began)
            echo(progress_line(final, files_total))
    finally:
        await process.stop()
    if process.returncode != 0:
        raise process.failure(f"`openpool run --until-idle` exited with status {process.returncode}")
    return final


async def _outcome(settings: Settings) -> PipelineOutcome:
    exports = await list_keys(settings, settings.s3_metrics_bucket)
    performance = [await read_json(settings, settings.s3_metrics_bucket, key) for key in performance_keys(exports)]
    return await read_outcome(settings, exports, performance)


def _facts(
    sandbox: Sandbox,
    settings: Settings,
    dataset: GeneratedDataSet,
    threshold: int,
    progress: PipelineProgress,
) -> DemoFacts:
    manifest = dataset.manifest
    config = dataset.config
    return DemoFacts(
        app_id=sandbox.app_id,
        seed=dataset.seed,
        minutes=config.duration_seconds / 60,
        workers=config.workers,
        jobs_per_second=config.jobs_per_second,
        files=len(manifest.files),
        uploads=len(dataset.uploads),
        emitted_events=dataset.emitted_events,
        rejected_elements=manifest.rejected_elements,
        late_files=len(manifest.late_files),
        duplicated_files=len(manifest.duplicated_files),
        unmatched_ai_halves=len(manifest.unmatched_ai_halves),
        expected_attributed_fees_wei=sum(manifest.fees_by_worker.values()),
        commission_rate=settings.pool_commission_rate,
        threshold_wei=threshold,
        pipeline_seconds=progress.elapsed_seconds,
        events_published=progress.events_in_kafka,
        s3_endpoint=settings.s3_endpoint,
        events_bucket=settings.s3_bucket,
        metrics_bucket=settings.s3_metrics_bucket,
        api_url=sandbox.api_url,
        metrics_url=sandbox.metrics_url,
        api_running=False,
        log=sandbox.log_file("run"),
    )


async def _keep_running(sandbox: Sandbox, facts: DemoFacts, outcome: PipelineOutcome, echo: Echo) -> None:
    """`openpool run` on the same app, in the foreground: the API serves, new files are picked up, payouts and
    exports run every 30 s. Ctrl-C stops it."""
    kept = sandbox.with_settings(
        S3_SENSOR_INTERVAL_SECONDS="1",
        PAYMENT_SENSOR_INTERVAL_SECONDS=KEPT_RUNNING_INTERVAL_SECONDS,
        OPENPOOL_EXPORT_INTERVAL_SECONDS=KEPT_RUNNING_INTERVAL_SECONDS,
    )
    log = sandbox.log_file("kept-running")
    process = await PipelineProcess.start(["run"], kept.env(), log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await process.wait_for_line("Worker ready", within_seconds=120)
        echo(render_report(replace(facts, api_running=True), outcome))
        echo(f"Kept running (pid {process.pid}, log {log}); Ctrl-C stops it. Try: curl {sandbox.api_url}/pool")
        stopped = asyncio.create_task(stop.wait())
        exited = asyncio.create_task(process.wait())
        await asyncio.wait({stopped, exited}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if exited.done() and exited.result() != 0:
            raise process.failure(f"`openpool run` exited with status {exited.result()}")
        echo("Stopping the pipeline ...")
    finally:
        await process.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _remove_finished_demos(root: Path, *, keep: str, echo: Echo) -> None:
    """Data dirs of earlier demos (their logs stay); a demo still running keeps its own."""
    if not root.is_dir():
        return
    removed = 0
    for folder in root.iterdir():
        data = folder / "data"
        if folder.name == keep or not data.is_dir() or _still_running(folder / RUN_MARKER):
            continue
        shutil.rmtree(data, ignore_errors=True)
        removed += 1
    if removed:
        echo(f"Removed the data dirs of {removed} earlier demo(s) under {root}")


def _still_running(marker: Path) -> bool:
    try:
        pid = int(marker.read_text())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
