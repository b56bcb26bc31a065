"""`openpool bench`: run the benchmarks on the local stack; write bench/results.json and BENCHMARKS.md.
`openpool soak`: sustained load at twice the benchmark rate; write bench/soak.json."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click

from openpool.bench.markdown import render_markdown
from openpool.bench.soak import (
    DEFAULT_DRAIN_WITHIN_SECONDS,
    DEFAULT_SAMPLE_SECONDS,
    DEFAULT_SECONDS,
    SoakPlan,
    read_benchmark_rate,
    render,
    run_soak,
)
from openpool.bench.suite import BENCH_ROOT, BenchOptions, run_suite
from openpool.logs import JsonFormatter
from openpool.pipeline_process import ProcessFailed, stack_up
from openpool.sandbox import Sandbox

_DEFAULT = BenchOptions()


@click.command("bench")
@click.option("--results", type=click.Path(dir_okay=False, path_type=Path), default=Path("bench/results.json"))
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), default=Path("BENCHMARKS.md"))
@click.option(
    "--minutes",
    type=click.FloatRange(min=0.1),
    default=_DEFAULT.minutes,
    show_default=True,
    help="Of generated pool for the throughput runs.",
)
@click.option("--jobs-per-second", type=click.FloatRange(min=1), default=_DEFAULT.jobs_per_second, show_default=True)
@click.option(
    "--stream-minutes",
    type=click.FloatRange(min=0.1),
    default=_DEFAULT.stream_minutes,
    show_default=True,
    help="Of generated pool for the stream app's backlog (at --stream-jobs-per-second).",
)
@click.option(
    "--stream-jobs-per-second", type=click.FloatRange(min=1), default=_DEFAULT.stream_jobs_per_second, show_default=True
)
@click.option(
    "--stream-window",
    type=click.FloatRange(min=5),
    default=_DEFAULT.stream_window_seconds,
    show_default=True,
    help="Seconds the stream app is measured for at most.",
)
@click.option("--recovery-records", type=click.IntRange(min=1000), default=_DEFAULT.recovery_records, show_default=True)
@click.option("--payouts", type=click.IntRange(min=1), default=_DEFAULT.payouts, show_default=True)
@click.option("--no-profile", is_flag=True, help="Skip profiling the stream app when it misses its target.")
def bench_command(
    results: Path,
    markdown: Path,
    minutes: float,
    jobs_per_second: float,
    stream_minutes: float,
    stream_jobs_per_second: float,
    stream_window: float,
    recovery_records: int,
    payouts: int,
    no_profile: bool,
) -> None:
    """Benchmark bridge, stream app, latency, recovery and payouts against same-run baselines."""
    options = BenchOptions(
        minutes=minutes,
        jobs_per_second=jobs_per_second,
        stream_minutes=stream_minutes,
        stream_jobs_per_second=stream_jobs_per_second,
        stream_window_seconds=stream_window,
        recovery_records=recovery_records,
        payouts=payouts,
        profile=not no_profile,
    )
    log = _log_to_file(BENCH_ROOT / "bench.log")
    try:
        click.echo("Starting the local stack (Kafka, S3, anvil) ...")
        stack_up()
        click.echo(f"Benchmarking (log {log}) ...")
        run = asyncio.run(run_suite(options, click.echo))
    except ProcessFailed as error:
        click.echo(f"openpool bench: {error}", err=True)
        sys.exit(1)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(run.to_json(), indent=2) + "\n", encoding="utf-8")
    markdown.write_text(render_markdown(run), encoding="utf-8")
    click.echo(f"Wrote {results} and {markdown} ({run.seconds / 60:.1f} min).")


@click.command("soak")
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("bench/results.json"),
    show_default=True,
    help="The bench results the benchmark rate is read from.",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("bench/soak.json"))
@click.option("--minutes", type=click.FloatRange(min=0.5), default=DEFAULT_SECONDS / 60, show_default=True)
@click.option(
    "--events-per-second",
    type=click.FloatRange(min=1),
    help="Offer this rate instead of twice the benchmark rate.",
)
@click.option(
    "--drain-within",
    type=click.FloatRange(min=10),
    default=DEFAULT_DRAIN_WITHIN_SECONDS,
    show_default=True,
    help="Seconds after the load that the lag may take to return to zero.",
)
@click.option("--sample-seconds", type=click.FloatRange(min=1), default=DEFAULT_SAMPLE_SECONDS, show_default=True)
def soak_command(
    results: Path,
    output: Path,
    minutes: float,
    events_per_second: float | None,
    drain_within: float,
    sample_seconds: float,
) -> None:
    """Sustained load on `openpool run`: RSS over time stays bounded, lag returns to zero afterwards.

    Exits 1 if either verdict fails.
    """
    at_rate = (
        SoakPlan(events_per_second, "given with --events-per-second")
        if events_per_second is not None
        else SoakPlan.at_twice(read_benchmark_rate(results))
    )
    plan = replace(at_rate, seconds=minutes * 60, drain_within_seconds=drain_within, sample_seconds=sample_seconds)
    sandbox = Sandbox.create("soak", BENCH_ROOT, datetime.now(UTC))
    log = _log_to_file(BENCH_ROOT / "soak.log")
    try:
        click.echo("Starting the local stack (Kafka, S3, anvil) ...")
        stack_up()
        click.echo(f"Soak at {plan.events_per_second:,.1f} events/s ({plan.basis}) for {minutes:g} min (log {log})")
        run = asyncio.run(run_soak(sandbox, plan, click.echo))
    except ProcessFailed as error:
        click.echo(f"openpool soak: {error}", err=True)
        sys.exit(1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(run.to_json(), indent=2) + "\n", encoding="utf-8")
    click.echo(render(run))
    click.echo(f"Wrote {output}.")
    if not run.passed:
        sys.exit(1)


def _log_to_file(path: Path) -> Path:
    """The bench's own logs (the bridge runs in this process) go to a file, not between the progress lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    return path
