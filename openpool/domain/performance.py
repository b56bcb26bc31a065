"""How fast workers are, over rolling event-time windows.

A job yields up to three samples: the real-time ratio `duration / responseTime` (transcode only, computed
here rather than taken from the emitter's truncated integer: 2000 ms done in 812 ms is 2.46, not 2), the
response time in seconds, and compute units per second. A response time of 0 is the emitter's race
(replaced-system.md §2.5) and means "unknown": such a job counts, with its fees and compute units, but
gives no samples.

Aggregates follow the quix-streams shape (`initialize` / `add` / `merge` / `result`); the state is plain
JSON data and its storage lives elsewhere.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from openpool.domain.jobs import NS_PER_MS, AttributedJob
from openpool.domain.quantile_sketch import Distribution, QuantileSketch, SketchState

NS_PER_SECOND = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class JobSample:
    real_time_ratio: float | None
    response_time_seconds: float | None
    compute_units_per_second: float | None


def job_sample(job: AttributedJob) -> JobSample:
    if job.response_time_ns == 0:
        return JobSample(None, None, None)
    return JobSample(
        real_time_ratio=None if job.duration_ms is None else job.duration_ms * NS_PER_MS / job.response_time_ns,
        response_time_seconds=job.response_time_ns / NS_PER_SECOND,
        compute_units_per_second=job.compute_units * NS_PER_SECOND / job.response_time_ns,
    )


@dataclass(frozen=True, slots=True, order=True)
class AIWorkload:
    """AI performance is kept per worker, model and pipeline: the speeds of different models do not mix."""

    worker_address: str
    model_id: str
    pipeline: str

    @property
    def model_pipeline(self) -> str:
        return f"{self.model_id} | {self.pipeline}"

    @classmethod
    def of(cls, job: AttributedJob) -> AIWorkload:
        if job.model_id is None or job.pipeline is None:
            raise ValueError(f"job {job.event_id} names no model and pipeline")
        return cls(job.worker_address, job.model_id, job.pipeline)


class JobStats(TypedDict):
    job_count: int
    total_compute_units: int
    total_fees: int
    real_time_ratio: SketchState
    response_time_seconds: SketchState
    compute_units_per_second: SketchState


@dataclass(frozen=True, slots=True)
class PerformanceSummary:
    job_count: int
    total_compute_units: int
    total_fees: int
    real_time_ratio: Distribution
    response_time_seconds: Distribution
    compute_units_per_second: Distribution


@dataclass(frozen=True, slots=True)
class JobPerformance:
    sketch: QuantileSketch = field(default_factory=QuantileSketch)

    def initialize(self) -> JobStats:
        return {
            "job_count": 0,
            "total_compute_units": 0,
            "total_fees": 0,
            "real_time_ratio": self.sketch.initialize(),
            "response_time_seconds": self.sketch.initialize(),
            "compute_units_per_second": self.sketch.initialize(),
        }

    def add(self, state: JobStats, job: AttributedJob) -> JobStats:
        sample = job_sample(job)
        return {
            "job_count": state["job_count"] + 1,
            "total_compute_units": state["total_compute_units"] + job.compute_units,
            "total_fees": state["total_fees"] + job.fees_wei,
            "real_time_ratio": self._sampled(state["real_time_ratio"], sample.real_time_ratio),
            "response_time_seconds": self._sampled(state["response_time_seconds"], sample.response_time_seconds),
            "compute_units_per_second": self._sampled(
                state["compute_units_per_second"], sample.compute_units_per_second
            ),
        }

    def merge(self, left: JobStats, right: JobStats) -> JobStats:
        return {
            "job_count": left["job_count"] + right["job_count"],
            "total_compute_units": left["total_compute_units"] + right["total_compute_units"],
            "total_fees": left["total_fees"] + right["total_fees"],
            "real_time_ratio": self.sketch.merge(left["real_time_ratio"], right["real_time_ratio"]),
            "response_time_seconds": self.sketch.merge(left["response_time_seconds"], right["response_time_seconds"]),
            "compute_units_per_second": self.sketch.merge(
                left["compute_units_per_second"], right["compute_units_per_second"]
            ),
        }

    def result(self, state: JobStats) -> PerformanceSummary:
        return PerformanceSummary(
            job_count=state["job_count"],
            total_compute_units=state["total_compute_units"],
            total_fees=state["total_fees"],
            real_time_ratio=self.sketch.result(state["real_time_ratio"]),
            response_time_seconds=self.sketch.result(state["response_time_seconds"]),
            compute_units_per_second=self.sketch.result(state["compute_units_per_second"]),
        )

    def _sampled(self, state: SketchState, value: float | None) -> SketchState:
        return state if value is None else self.sketch.add(state, value)


@dataclass(frozen=True, slots=True)
class BucketPlacement:
    start: int | None
    """The bucket (start, epoch seconds) the job joins; None when it is too old for this window."""
    expired: tuple[int, ...]
    """Known buckets that can no longer overlap a window ending at or after the newest job."""


RollingState = dict[str, dict[str, JobStats]]
"""Per window length and then per bucket start (both in seconds, as text for JSON), the jobs of the bucket."""


@dataclass(frozen=True, slots=True)
class RollingPerformance:
    """Jobs in event-time buckets, one ring of buckets per window length.

    The event's `dt`, not the wall clock, picks the bucket. A window of W seconds at `now` merges the
    buckets that overlap (now − W, now]: it holds every job of the last W seconds and at most one bucket
    (W / buckets_per_window) of older ones. Buckets that can no longer overlap a window ending at or after
    the newest event are dropped, so a key's state holds at most `buckets_per_window + 1` buckets per
    window however many jobs it has seen, and a job that late is not added to that window. A ring per
    window keeps a day's window at 25 hourly buckets instead of 288 five-minute ones.
    """

    windows_seconds: tuple[int, ...] = (3600, 86400)
    buckets_per_window: int = 24
    aggregate: JobPerformance = JobPerformance()

    def __post_init__(self) -> None:
        if not self.windows_seconds or len(set(self.windows_seconds)) != len(self.windows_seconds):
            raise ValueError(f"windows must be distinct and at least one, got {self.windows_seconds}")
        if self.buckets_per_window < 1:
            raise ValueError(f"a window needs at least one bucket, got {self.buckets_per_window}")
        for window in self.windows_seconds:
            if window <= 0 or window % self.buckets_per_window:
                raise ValueError(
                    f"window of {window} s does not split into {self.buckets_per_window} whole-second buckets"
                )

    def bucket_seconds(self, window_seconds: int) -> int:
        return window_seconds // self.buckets_per_window

    def initialize(self) -> RollingState:
        return {str(window): {} for window in self.windows_seconds}

    def add(self, state: RollingState, job: AttributedJob) -> RollingState:
        """A new state with the job in its bucket of every window; windows no longer configured are dropped."""
        second = _epoch_seconds(job.dt)
        updated: RollingState = {}
        for window in self.windows_seconds:
            size = self.bucket_seconds(window)
            buckets = state.get(str(window), {})
            start = second - second % size
            horizon = max([start, *map(int, buckets)]) - window - size
            kept = {bucket: stats for bucket, stats in buckets.items() if int(bucket) > horizon}
            if start > horizon:
                kept[str(start)] = self.aggregate.add(kept.get(str(start), self.aggregate.initialize()), job)
            updated[str(window)] = kept
        return updated

    def placement(self, known: Mapping[str, Collection[int]], job: AttributedJob) -> dict[str, BucketPlacement]:
        """Per window, the bucket a job goes into and the known buckets it makes expire — `add`'s rule, for a
        store that keeps each bucket as its own record instead of one state per key."""
        second = _epoch_seconds(job.dt)
        placements: dict[str, BucketPlacement] = {}
        for window in self.windows_seconds:
            size = self.bucket_seconds(window)
            starts = known.get(str(window), ())
            start = second - second % size
            horizon = max([start, *starts]) - window - size
            placements[str(window)] = BucketPlacement(
                start=start if start > horizon else None,
                expired=tuple(sorted(known_start for known_start in starts if known_start <= horizon)),
            )
        return placements

    def result(self, state: RollingState, *, now: datetime, window_seconds: int) -> PerformanceSummary:
        if window_seconds not in self.windows_seconds:
            raise ValueError(f"no window of {window_seconds} s is kept; windows are {self.windows_seconds}")
        end = _epoch_seconds(now)
        size = self.bucket_seconds(window_seconds)
        merged = self.aggregate.initialize()
        for bucket, stats in state.get(str(window_seconds), {}).items():
            if end - window_seconds < int(bucket) + size and int(bucket) <= end:
                merged = self.aggregate.merge(merged, stats)
        return self.aggregate.result(merged)


def _epoch_seconds(moment: datetime) -> int:
    """Whole seconds since the epoch, floored; a naive `moment` raises TypeError."""
    return (moment - _EPOCH) // timedelta(seconds=1)
