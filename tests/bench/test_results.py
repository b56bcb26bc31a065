from __future__ import annotations

import math

from openpool.bench.markdown import render_markdown
from openpool.bench.results import BenchRun, Figure, Target

HALF = Target("≥ 50 %", at_least=0.5)


def _figure(value: float, baseline: float, target: Target = HALF, *, inverse: bool = False) -> Figure:
    return Figure("k", "A figure", "events/s", value, "plain", baseline, target, "How.", {}, ratio_is_inverse=inverse)


def test_a_ratio_target_is_met_from_half_the_baseline() -> None:
    assert _figure(50, 100).met is True
    assert _figure(49, 100).met is False


def test_an_absolute_target_looks_at_the_value_and_an_inverse_ratio_at_baseline_over_value() -> None:
    below_two = Target("< 2 s", below=2.0, absolute=True)
    latency = _figure(1.5, 0.5, below_two, inverse=True)
    assert latency.met is True
    assert latency.ratio == 0.5 / 1.5
    assert _figure(math.inf, 0.5, below_two, inverse=True).met is False
    assert _figure(math.inf, 0.5, below_two, inverse=True).ratio is None


def test_a_figure_only_reported_neither_meets_nor_misses() -> None:
    assert _figure(10, 100, Target("reported")).met is None


def test_json_has_no_infinity() -> None:
    document = _figure(math.inf, 1.0, Target("< 2 s", below=2.0, absolute=True), inverse=True).to_json()
    assert document["value"] is None and document["ratio"] is None and document["met"] is False


def test_the_markdown_marks_a_missed_target_and_names_the_machine() -> None:
    run = BenchRun({"cpu_model": "Test CPU", "cores": 2}, "2026-11-25T00:00:00Z", 60.0, (_figure(10, 100),), ())
    text = render_markdown(run)
    assert "| CPU | Test CPU |" in text
    assert "| A figure | 10.0 events/s | 100 events/s (plain) | 0.1 | ≥ 50 % | **no** |" in text
