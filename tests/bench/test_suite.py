"""`make bench` from end to end on a tiny data set: every step runs and results.json and BENCHMARKS.md are written.

The figures of a run this small mean nothing. What is checked is the plumbing between the steps (the sandboxes,
the changelogs the recovery step copies from the stream step, the log lines the steps time), which broke
without anyone noticing until a full run: when the recovery step looked for changelogs in a sandbox that had
none, and when it waited for a line Faust does not write once the bulk restore has read everything. The
profilers are left out to keep `make test` short; tests/bench/test_profiling.py runs them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from openpool.bench.markdown import render_markdown
from openpool.bench.suite import BenchOptions, run_suite
from openpool.stack.endpoints import StackEndpoints

# Five real steps, about 90 s: `make test-all`, so that `make test` stays within its 15 minutes.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY = BenchOptions(
    minutes=0.2,
    jobs_per_second=20.0,
    stream_minutes=0.3,
    stream_jobs_per_second=30.0,
    stream_window_seconds=30.0,  # until drained; long enough for a loaded broker to elect new topics' leaders
    profile_seconds=2.0,
    recovery_records=300,
    latency_load=40.0,
    latency_seconds_at_target=4.0,
    latency_seconds=4.0,
    lower_latency_shares=(),  # a tiny load that is not sustained is not tried again lower
    drain_seconds=15.0,
    payouts=2,
    seed=5,
    profile=False,
)

FIGURES = (
    "stream_app_throughput",
    "stream_app_cpu_per_event",
    "bridge_throughput",
    "end_to_end_latency_p99",
    "table_recovery",
    "payouts_per_minute",
)


async def test_every_step_of_the_benchmark_runs_and_is_written_out(
    stack_endpoints: StackEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack_endpoints.as_env().items():
        monkeypatch.setenv(name, value)
    echoed: list[str] = []

    run = await run_suite(replace(TINY, root=tmp_path), echoed.append)

    keys = [figure.key for figure in run.figures]
    assert [key for key in keys if key in FIGURES] == list(FIGURES), keys
    assert set(keys) <= {*FIGURES, "end_to_end_latency_p99_sustainable"}, keys
    by_key = {figure.key: figure for figure in run.figures}
    for key in ("stream_app_throughput", "bridge_throughput", "table_recovery", "payouts_per_minute"):
        figure = by_key[key]
        assert figure.value > 0 and figure.baseline is not None and figure.baseline > 0, figure
    assert by_key["stream_app_throughput"].details["events_committed"] > 0
    assert by_key["table_recovery"].details["records"] == TINY.recovery_records
    assert by_key["payouts_per_minute"].details["payouts"] == TINY.payouts
    assert [line[:5] for line in echoed if line.startswith("[")] == ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"]

    results = json.loads(json.dumps(run.to_json()))
    assert list(results["figures"]) == keys
    markdown = render_markdown(run)
    for figure in run.figures:
        assert figure.title in markdown
