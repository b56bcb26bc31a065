"""A mergeable quantile sketch for non-negative samples (the log-bucket scheme of DDSketch).

A positive value v is counted in bucket i = ceil(log_γ v) with γ = (1 + α) / (1 − α); every value of that
bucket is within relative error α of 2γ^i / (γ + 1), so any quantile read back is within α of the exact
one. Buckets are plain counts, so merging two sketches is adding counts: the sketch of a whole equals the
merge of the sketches of its parts, whatever the split and the order. That is what the predecessor lacked
when it replaced medians by means after its first run (replaced-system.md §9.19).

The state is plain JSON data (it is stored in tables as JSON). The sum is kept in integer nano-units
because float addition is not associative: with it, adding the same samples in another order would leave
another state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TypedDict

_SUM_UNITS_PER_ONE = 10**9


class SketchState(TypedDict):
    count: int
    zeros: int
    sum_nanos: int
    min: float | None
    max: float | None
    buckets: dict[str, int]


@dataclass(frozen=True, slots=True)
class Distribution:
    """A summary of samples; every statistic is None when there were no samples (never NaN)."""

    count: int
    mean: float | None
    median: float | None
    p95: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class QuantileSketch:
    relative_accuracy: float = 0.01
    _log_gamma: float = field(init=False, repr=False, compare=False)
    """log γ, once: math.log(v, γ) is log(v) / log(γ), and taking log γ per sample cost a tenth of stage 2."""

    def __post_init__(self) -> None:
        if not 0 < self.relative_accuracy < 1:
            raise ValueError(f"relative accuracy must lie in (0, 1), got {self.relative_accuracy}")
        object.__setattr__(self, "_log_gamma", math.log(self._gamma))

    @property
    def _gamma(self) -> float:
        return (1 + self.relative_accuracy) / (1 - self.relative_accuracy)

    def initialize(self) -> SketchState:
        return {"count": 0, "zeros": 0, "sum_nanos": 0, "min": None, "max": None, "buckets": {}}

    def add(self, state: SketchState, value: float) -> SketchState:
        """A new state with one more sample; `state` is left as it was."""
        nanos = value * _SUM_UNITS_PER_ONE
        if not (value >= 0 and math.isfinite(nanos)):
            raise ValueError(f"a sample must be a finite non-negative number, got {value}")
        buckets = dict(state["buckets"])
        if value > 0:
            index = str(math.ceil(math.log(value) / self._log_gamma))
            buckets[index] = buckets.get(index, 0) + 1
        return {
            "count": state["count"] + 1,
            "zeros": state["zeros"] + (value == 0),
            "sum_nanos": state["sum_nanos"] + round(nanos),
            "min": value if state["min"] is None else min(state["min"], value),
            "max": value if state["max"] is None else max(state["max"], value),
            "buckets": buckets,
        }

    def merge(self, left: SketchState, right: SketchState) -> SketchState:
        buckets = dict(left["buckets"])
        for index, count in right["buckets"].items():
            buckets[index] = buckets.get(index, 0) + count
        return {
            "count": left["count"] + right["count"],
            "zeros": left["zeros"] + right["zeros"],
            "sum_nanos": left["sum_nanos"] + right["sum_nanos"],
            "min": _least(left["min"], right["min"]),
            "max": _greatest(left["max"], right["max"]),
            "buckets": buckets,
        }

    def quantile(self, state: SketchState, q: float) -> float | None:
        """Linearly interpolated between the neighbouring order statistics, like pandas' `quantile`."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile must lie in [0, 1], got {q}")
        if state["count"] == 0:
            return None
        rank = q * (state["count"] - 1)
        lower, upper = math.floor(rank), math.ceil(rank)
        low_value = self._order_statistic(state, lower)
        if upper == lower:
            return low_value
        return low_value + (self._order_statistic(state, upper) - low_value) * (rank - lower)

    def result(self, state: SketchState) -> Distribution:
        count = state["count"]
        return Distribution(
            count=count,
            mean=state["sum_nanos"] / _SUM_UNITS_PER_ONE / count if count else None,
            median=self.quantile(state, 0.5),
            p95=self.quantile(state, 0.95),
            min=state["min"],
            max=state["max"],
        )

    def _order_statistic(self, state: SketchState, position: int) -> float:
        """The estimate of the sample at `position` (0-based) in sorted order; the extremes are exact."""
        smallest, largest = state["min"], state["max"]
        assert smallest is not None and largest is not None
        if position == 0:
            return smallest
        if position == state["count"] - 1:
            return largest
        seen = state["zeros"]
        if position < seen:
            return 0.0
        gamma = self._gamma
        for index in sorted(state["buckets"], key=int):
            seen += state["buckets"][index]
            if position < seen:
                estimate = 2 * gamma ** int(index) / (gamma + 1)
                return min(max(estimate, smallest), largest)
        raise ValueError("sketch state counts do not add up")


def _least(left: float | None, right: float | None) -> float | None:
    if left is None or right is None:
        return right if left is None else left
    return min(left, right)


def _greatest(left: float | None, right: float | None) -> float | None:
    if left is None or right is None:
        return right if left is None else left
    return max(left, right)
