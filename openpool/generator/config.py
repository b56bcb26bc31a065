"""What a generated data set looks like: the pool's size and load, and how often each fault occurs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from openpool.generator.pool_model import ACTIVE_PARTITIONS, Partition

DEFAULT_START = datetime(2025, 11, 5, 15, 0, tzinfo=UTC)


class GeneratorConfigError(ValueError):
    """A configuration that cannot describe a pool, naming the setting at fault."""


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    start: datetime = DEFAULT_START
    duration: timedelta = timedelta(minutes=10)
    workers: int = 50
    jobs_per_second: float = 50.0
    ai_share: float = 0.3
    """The AI partitions' share of all jobs; the transcode partitions share the rest evenly."""
    churn_per_hour: float = 2.0
    """How often each worker connection drops and reconnects."""
    resets_per_hour: float = 1.0
    """Orchestrator restarts per partition, besides the one that starts each partition's stream."""
    late_rate: float = 0.05
    """Share of files uploaded only after later files of their partition."""
    duplicate_rate: float = 0.03
    """Share of files uploaded a second time, identical, under the same key."""
    unmatched_rate: float = 0.01
    """Share of AI jobs of which only one half (job-received or job-processed) is emitted."""
    malformed_rate: float = 0.0005
    """Malformed events written, per well-formed event."""
    broken_file_rate: float = 0.02
    """Share of files whose body is unreadable (truncated JSON) or `null` (the tracker dropped every event)."""
    flush_seconds: int = 60
    flush_threshold: int = 10_000
    partitions: tuple[Partition, ...] = field(default=ACTIVE_PARTITIONS)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise GeneratorConfigError("start must carry a time zone")
        # The emitter stamps events to the second; a fractional start would make the first DT precede it.
        object.__setattr__(self, "start", self.start.astimezone(UTC).replace(microsecond=0))
        if self.duration < timedelta(seconds=1):
            raise GeneratorConfigError("duration must be at least one second")
        if not self.partitions:
            raise GeneratorConfigError("at least one partition is needed")
        if len(set(self.partitions)) != len(self.partitions):
            raise GeneratorConfigError("partitions must not repeat")
        if self.workers < len(self.partitions):
            raise GeneratorConfigError(f"workers: {self.workers} cannot serve {len(self.partitions)} partitions")
        if self.jobs_per_second < 0:
            raise GeneratorConfigError("jobs_per_second must not be negative")
        for name in ("churn_per_hour", "resets_per_hour"):
            if getattr(self, name) < 0:
                raise GeneratorConfigError(f"{name} must not be negative")
        for name in ("ai_share", "late_rate", "duplicate_rate", "unmatched_rate", "malformed_rate", "broken_file_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise GeneratorConfigError(f"{name} must be between 0 and 1")
        if self.flush_seconds < 1:
            raise GeneratorConfigError("flush_seconds must be at least 1")
        if self.flush_threshold < 1:
            raise GeneratorConfigError("flush_threshold must be at least 1")

    @property
    def duration_seconds(self) -> float:
        return self.duration.total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "duration_seconds": self.duration_seconds,
            "workers": self.workers,
            "jobs_per_second": self.jobs_per_second,
            "ai_share": self.ai_share,
            "churn_per_hour": self.churn_per_hour,
            "resets_per_hour": self.resets_per_hour,
            "late_rate": self.late_rate,
            "duplicate_rate": self.duplicate_rate,
            "unmatched_rate": self.unmatched_rate,
            "malformed_rate": self.malformed_rate,
            "broken_file_rate": self.broken_file_rate,
            "flush_seconds": self.flush_seconds,
            "flush_threshold": self.flush_threshold,
            "partitions": [str(partition) for partition in self.partitions],
        }
