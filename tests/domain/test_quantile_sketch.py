"""The quantile sketch: quantiles within 1 % of the exact ones, exact extremes and mean, mergeable."""

from __future__ import annotations

import json
import math
from functools import reduce
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.quantile_sketch import Distribution, QuantileSketch, SketchState

SKETCH = QuantileSketch()

samples = st.lists(
    st.floats(min_value=1e-6, max_value=1e12) | st.just(0.0) | st.sampled_from([0.812, 2.463, 1.0]),
    max_size=200,
)


def sketch_of(values: list[float]) -> SketchState:
    return reduce(SKETCH.add, values, SKETCH.initialize())


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    lower, upper = math.floor(rank), math.ceil(rank)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (rank - lower)


def test_without_samples_every_statistic_is_none_rather_than_nan() -> None:
    assert SKETCH.result(SKETCH.initialize()) == Distribution(0, None, None, None, None, None)


def test_extremes_and_mean_are_exact() -> None:
    summary = SKETCH.result(sketch_of([0.812, 1.45, 0.5, 3.0]))
    assert (summary.count, summary.min, summary.max) == (4, 0.5, 3.0)
    assert summary.mean == pytest.approx(1.4405, rel=1e-12)


def test_the_median_of_an_even_count_lies_between_the_middle_samples_like_pandas() -> None:
    assert SKETCH.result(sketch_of([1.0, 3.0])).median == 2.0
    assert SKETCH.result(sketch_of([1.0, 2.0, 4.0, 100.0])).median == pytest.approx(3.0, rel=0.01)


def test_the_median_is_a_median_not_a_mean() -> None:
    summary = SKETCH.result(sketch_of([1.0, 1.0, 1.0, 1.0, 1000.0]))
    assert summary.median == pytest.approx(1.0, rel=0.01)
    assert summary.mean == pytest.approx(200.8)


def test_p95_reads_the_slow_tail() -> None:
    summary = SKETCH.result(sketch_of([1.0] * 95 + [10.0] * 5))
    assert summary.median == pytest.approx(1.0, rel=0.01)
    assert summary.p95 == pytest.approx(1.45, rel=0.01)


def test_zero_samples_count_and_sort_first() -> None:
    summary = SKETCH.result(sketch_of([0.0, 0.0, 0.0, 5.0]))
    assert (summary.count, summary.min, summary.median) == (4, 0.0, 0.0)


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, 1e300])
def test_a_sample_that_is_negative_or_not_finite_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="finite non-negative"):
        SKETCH.add(SKETCH.initialize(), value)


def test_adding_leaves_the_given_state_untouched() -> None:
    state = sketch_of([1.0, 2.0])
    before = json.dumps(state, sort_keys=True)
    SKETCH.add(state, 3.0)
    SKETCH.merge(state, state)
    assert json.dumps(state, sort_keys=True) == before


@pytest.mark.parametrize("q", [-0.1, 1.1])
def test_a_quantile_outside_zero_to_one_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        SKETCH.quantile(sketch_of([1.0]), q)


@settings(max_examples=300, deadline=None)
@given(samples.filter(bool), st.sampled_from([0.0, 0.25, 0.5, 0.95, 1.0]))
def test_any_quantile_is_within_the_relative_accuracy_of_the_exact_one(values: list[float], q: float) -> None:
    estimate = SKETCH.quantile(sketch_of(values), q)
    exact = exact_quantile(values, q)
    assert estimate is not None
    assert abs(estimate - exact) <= SKETCH.relative_accuracy * exact * (1 + 1e-9)


@settings(max_examples=300, deadline=None)
@given(samples.filter(bool))
def test_the_mean_is_exact_to_a_nano_unit(values: list[float]) -> None:
    mean = SKETCH.result(sketch_of(values)).mean
    exact = math.fsum(values) / len(values)
    assert mean is not None
    assert abs(mean - exact) <= 1e-9 + 1e-12 * exact


@settings(max_examples=300, deadline=None)
@given(samples, samples)
def test_merging_the_sketches_of_two_parts_gives_the_sketch_of_the_whole(left: list[float], right: list[float]) -> None:
    assert SKETCH.merge(sketch_of(left), sketch_of(right)) == sketch_of(left + right)
    assert SKETCH.merge(sketch_of(right), sketch_of(left)) == sketch_of(left + right)


@settings(max_examples=300, deadline=None)
@given(samples, st.randoms(use_true_random=False))
def test_the_same_samples_in_any_order_give_the_same_state(values: list[float], shuffler: Random) -> None:
    shuffled = list(values)
    shuffler.shuffle(shuffled)
    assert sketch_of(shuffled) == sketch_of(values)


@settings(max_examples=200, deadline=None)
@given(samples)
def test_the_state_is_plain_json_that_round_trips(values: list[float]) -> None:
    state = sketch_of(values)
    restored = json.loads(json.dumps(state, allow_nan=False))
    assert restored == state
    assert SKETCH.result(restored) == SKETCH.result(state)


def test_the_state_holds_one_count_per_occupied_bucket_not_one_per_sample() -> None:
    state = sketch_of([0.8 + (index % 50) / 1000 for index in range(10_000)])
    assert state["count"] == 10_000
    assert len(state["buckets"]) <= 4
