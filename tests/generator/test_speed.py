"""A busy pool's ten minutes generate in a few seconds, so tests and benchmarks can make their own."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from openpool.generator import GeneratorConfig, generate

BUSY = GeneratorConfig(duration=timedelta(minutes=10), workers=50, jobs_per_second=50)


def test_ten_minutes_of_a_busy_pool_generate_in_a_few_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    began = time.perf_counter()
    dataset = generate(BUSY, seed=1)
    took = time.perf_counter() - began

    with capsys.disabled():
        print(
            f"\n10 min, 50 workers, 50 jobs/s: {dataset.emitted_events} events in {len(dataset.event_files)} files, "
            f"{dataset.size / 1e6:.1f} MB, generated in {took:.2f} s ({dataset.emitted_events / took:,.0f} events/s)"
        )
    assert dataset.emitted_events > 35_000
    assert took < 10
