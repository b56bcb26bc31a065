from __future__ import annotations

from datetime import timedelta

import pytest

from openpool.generator import GeneratedDataSet, GeneratorConfig, generate

# Every fault at a rate that makes each show up several times in three minutes of a small pool.
FAULTY = GeneratorConfig(
    duration=timedelta(minutes=3),
    workers=20,
    jobs_per_second=20,
    churn_per_hour=30,
    resets_per_hour=20,
    late_rate=0.3,
    duplicate_rate=0.3,
    unmatched_rate=0.1,
    malformed_rate=0.02,
    broken_file_rate=0.15,
    flush_seconds=20,
)
CLEAN = GeneratorConfig(
    duration=timedelta(minutes=3),
    workers=20,
    jobs_per_second=20,
    churn_per_hour=30,
    resets_per_hour=20,
    late_rate=0,
    duplicate_rate=0,
    unmatched_rate=0,
    malformed_rate=0,
    broken_file_rate=0,
    flush_seconds=20,
)


@pytest.fixture(scope="session")
def faulty() -> GeneratedDataSet:
    return generate(FAULTY, seed=11)


@pytest.fixture(scope="session")
def clean() -> GeneratedDataSet:
    return generate(CLEAN, seed=11)
