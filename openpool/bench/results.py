"""What a benchmark run measured: each figure next to the baseline measured in the same run, and the target."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


def finite(value: float | None) -> float | None:
    """JSON has no infinity: a probe never seen makes a latency `null`."""
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class Target:
    """`ratio` (or, for `absolute`, `value`) must be at least `at_least`, or below `below`; `value` must also
    be at least `value_at_least` and at most `value_at_most` where given."""

    text: str
    at_least: float | None = None
    below: float | None = None
    absolute: bool = False
    value_at_least: float | None = None
    value_at_most: float | None = None

    def met(self, value: float, ratio: float | None) -> bool | None:
        """None when there is nothing to meet (a figure only reported) or nothing to compare."""
        if self.value_at_least is not None and value < self.value_at_least:
            return False
        if self.value_at_most is not None and value > self.value_at_most:
            return False
        measured = value if self.absolute else ratio
        if measured is None or (self.at_least is None and self.below is None):
            return None if self.value_at_least is None and self.value_at_most is None else True
        if self.at_least is not None and measured < self.at_least:
            return False
        return not (self.below is not None and measured >= self.below)


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    title: str
    unit: str
    value: float
    baseline_title: str
    baseline: float | None
    target: Target
    method: str
    details: dict[str, Any] = field(default_factory=dict)
    ratio_is_inverse: bool = False
    """For times (lower is better) the ratio is baseline / value, so that above 1 is still faster."""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0 or self.value == 0:
            return None
        if not (math.isfinite(self.baseline) and math.isfinite(self.value)):
            return None
        return self.baseline / self.value if self.ratio_is_inverse else self.value / self.baseline

    @property
    def met(self) -> bool | None:
        return self.target.met(self.value, self.ratio)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "unit": self.unit,
            "value": finite(self.value),
            "baseline": {"title": self.baseline_title, "value": finite(self.baseline)},
            "ratio": finite(self.ratio),
            "target": asdict(self.target),
            "met": self.met,
            "method": self.method,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class FunctionShare:
    function: str
    share: float
    """Of all samples, 0..1."""


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    stage: str
    tool: str
    seconds: float
    samples: int
    """py-spy: stack samples taken while the process ran Python; cProfile: function calls."""
    by_component: tuple[FunctionShare, ...]
    """Self time per library or package (`faust`, `aiokafka`, `json`, `openpool.domain`, ...)."""
    top_self: tuple[FunctionShare, ...]
    """Functions where the samples were taken (self time)."""
    top_inclusive: tuple[FunctionShare, ...]
    """The project's own functions by inclusive time (on the stack)."""
    raw_file: str
    facts: tuple[str, ...] = ()
    """What else was measured about the stage while it ran (CPU use, time per record), as sentences."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BenchRun:
    machine: dict[str, Any]
    started_at: str
    seconds: float
    figures: tuple[Figure, ...]
    profiles: tuple[ProfileSummary, ...]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 1),
            "figures": {figure.key: figure.to_json() for figure in self.figures},
            "profiles": [profile.to_json() for profile in self.profiles],
            "notes": list(self.notes),
        }
