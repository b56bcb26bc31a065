from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from openpool.demo.pool import DemoPool, threshold_paying
from openpool.domain.commission import CommissionRate
from openpool.generator import generate

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RATE = CommissionRate.from_decimal(Decimal("0.25"))


def test_the_threshold_is_reached_by_at_least_the_wanted_number_of_best_earners() -> None:
    dataset = generate(DemoPool(minutes=1, workers=20, jobs_per_second=20).config(NOW), seed=7)
    threshold = threshold_paying(dataset.manifest, RATE, 5)
    earnings = sorted(RATE.split(fees).worker_earnings for fees in dataset.manifest.fees_by_worker.values())
    assert sum(1 for earned in earnings if earned >= threshold) >= 5
    assert len(str(threshold).rstrip("0")) <= 2


def test_asking_for_more_workers_than_there_are_pays_them_all() -> None:
    dataset = generate(DemoPool(minutes=1, workers=10, jobs_per_second=20).config(NOW), seed=7)
    threshold = threshold_paying(dataset.manifest, RATE, 1000)
    assert all(RATE.split(fees).worker_earnings >= threshold for fees in dataset.manifest.fees_by_worker.values())


def test_the_demo_pool_ends_now() -> None:
    config = DemoPool(minutes=3).config(NOW)
    assert config.start + config.duration == NOW
