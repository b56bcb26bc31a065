"""Sustained load, short: the soak runner of `make soak` (openpool/bench/soak.py) for a minute at a modest rate.

`openpool run` on a sandbox of the test stack takes a clean generated pool uploaded on schedule; its RSS must
stay bounded (the last third's peak at most 20 % above the first third's) and the consumer lag must return to
zero once the uploads stop. The ten-minute run at twice the benchmark rate is `make soak`. The run's samples
and summary go to .openpool/reliability/soak-short.json.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest

from openpool.bench.soak import SoakPlan, render, run_soak
from openpool.sandbox import Sandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPORTS = Path(__file__).resolve().parents[2] / ".openpool" / "reliability"
EVENTS_PER_SECOND = 50.0


async def test_a_minute_of_sustained_load_keeps_memory_bounded_and_the_lag_returns_to_zero(
    kafka_bootstrap: str, s3_endpoint: str, tmp_path: Path
) -> None:
    sandbox = Sandbox.create(f"t-soak-{secrets.token_hex(3)}", tmp_path, datetime.now(UTC)).with_settings(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap, S3_ENDPOINT=s3_endpoint
    )
    plan = SoakPlan(EVENTS_PER_SECOND, "short soak", seconds=60, drain_within_seconds=120, sample_seconds=2)
    run = await run_soak(sandbox, plan, print)
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "soak-short.json").write_text(json.dumps(run.to_json(), indent=2) + "\n", encoding="utf-8")
    report = render(run)
    print(report)

    assert run.offered_events_per_second > 0.8 * EVENTS_PER_SECOND, report
    assert run.memory.bounded, report
    assert run.lag_returned_to_zero, report
    assert run.samples[-1].events_processed == run.events, report
