"""The pool the demo simulates, and the payout threshold that makes its busiest workers get paid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from openpool.domain.commission import CommissionRate
from openpool.generator import GeneratorConfig, Manifest


@dataclass(frozen=True, slots=True)
class DemoPool:
    minutes: float = 3.0
    workers: int = 40
    jobs_per_second: float = 100.0
    seed: int = 7
    flush_seconds: int = 15
    """Shorter than the emitter's 60 s, so a few minutes of pool make enough files to watch them go by."""

    def config(self, now: datetime) -> GeneratorConfig:
        """Event times ending now, as if the pool had been busy for the last few minutes."""
        duration = timedelta(minutes=self.minutes)
        return GeneratorConfig(
            start=now - duration,
            duration=duration,
            workers=self.workers,
            jobs_per_second=self.jobs_per_second,
            flush_seconds=self.flush_seconds,
        )


def threshold_paying(manifest: Manifest, rate: CommissionRate, workers: int) -> int:
    """A payout threshold the `workers` best-earning workers of the data set reach, on two significant digits.

    Computed on each worker's total fees, which floors the commission once instead of once per job: the
    pipeline's earnings can only be a few wei higher, so those workers still reach it.
    """
    earnings = sorted((rate.split(fees).worker_earnings for fees in manifest.fees_by_worker.values()), reverse=True)
    if not earnings or workers < 1:
        return 1
    reached = earnings[min(workers, len(earnings)) - 1]
    if reached < 100:
        return max(reached, 1)
    scale = int(10 ** (len(str(reached)) - 2))
    return reached // scale * scale
