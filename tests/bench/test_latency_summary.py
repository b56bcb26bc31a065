from __future__ import annotations

import math

from openpool.bench.latency import growth, percentile, summarise


def test_percentiles_are_nearest_rank() -> None:
    values = [float(value) for value in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0


def test_a_probe_never_seen_counts_as_infinitely_late() -> None:
    summary = summarise([0.5, None, 1.5, 1.0])
    assert (summary.probes, summary.seen) == (4, 3)
    assert summary.p50 == 1.0
    assert math.isinf(summary.p99)
    assert not summary.all_seen
    assert summary.to_json()["p99_seconds"] is None


def test_one_late_probe_in_a_thousand_leaves_p99_finite() -> None:
    summary = summarise([0.1] * 999 + [None])
    assert summary.p99 == 0.1
    assert math.isinf(summary.max)


def test_latency_that_climbs_over_the_run_is_growth() -> None:
    assert growth([1.0, 1.1, 0.9, 1.0, 1.2, 1.0, 0.8, 1.1]) < 0.5
    assert growth([1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]) == 5.0
    assert math.isinf(growth([1.0, 1.0, 1.0, None]))
