from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openpool.bench.process_stats import consumer_lag_seconds
from openpool.bench.soak import (
    DEFAULT_BENCHMARK_RATE,
    BenchmarkRate,
    SoakPlan,
    SoakRun,
    SoakSample,
    at_steps,
    benchmark_rate,
    memory_verdict,
    read_benchmark_rate,
    render,
    resident_beyond_memtables,
    unflushed_table_mib,
)


def _latency_figure(offered: float, sustained: bool) -> dict[str, Any]:
    return {"unit": "s", "details": {"offered_events_per_second": offered, "sustained": sustained}}


RESULTS: dict[str, Any] = {
    "started_at": "2026-11-25T22:06:17Z",
    "figures": {
        "stream_app_throughput": {"unit": "events/s", "details": {"events_committed": 15290, "drained": False}},
        "end_to_end_latency_p99": _latency_figure(3742.6, sustained=False),
        "end_to_end_latency_p99_sustainable": _latency_figure(115.2, sustained=True),
    },
}


def _sample(
    at: float,
    rss_mib: float,
    *,
    unflushed_table_mib: float = 0.0,
    loading: bool = True,
    cpu_seconds: float = 0.0,
    processed: int = 0,
    lag_records: int = 0,
    lag_seconds: float | None = 0.0,
) -> SoakSample:
    return SoakSample(
        at=at,
        loading=loading,
        rss_mib=rss_mib,
        unflushed_table_mib=unflushed_table_mib,
        cpu_seconds=cpu_seconds,
        load_average=1.5,
        events_uploaded=processed + lag_records,
        events_published=processed + lag_records,
        events_processed=processed,
        lag_records=lag_records,
        lag_seconds=lag_seconds,
    )


def test_the_benchmark_rate_is_the_highest_offered_rate_a_latency_run_sustained() -> None:
    rate = benchmark_rate(RESULTS, "bench/results.json")
    assert rate.events_per_second == 115.2
    assert "bench/results.json" in rate.source and "2026-11-25T22:06:17Z" in rate.source


def test_a_sustained_run_at_the_target_load_is_the_benchmark_rate() -> None:
    both = {"figures": {**RESULTS["figures"], "end_to_end_latency_p99": _latency_figure(4810.0, sustained=True)}}
    assert benchmark_rate(both, "r.json").events_per_second == 4810.0


def test_without_a_sustained_latency_run_the_documented_default_is_used() -> None:
    unsustained = {"figures": {"end_to_end_latency_p99": _latency_figure(3742.6, sustained=False)}}
    for results in (None, unsustained, {}):
        rate = benchmark_rate(results, "r.json")
        assert rate.events_per_second == DEFAULT_BENCHMARK_RATE
        assert "default" in rate.source


def test_the_rate_is_read_from_the_results_file_or_defaults_when_there_is_none(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    assert read_benchmark_rate(results).events_per_second == DEFAULT_BENCHMARK_RATE
    results.write_text(json.dumps(RESULTS), encoding="utf-8")
    assert read_benchmark_rate(results).events_per_second == 115.2


def test_the_soak_offers_twice_the_benchmark_rate() -> None:
    plan = SoakPlan.at_twice(BenchmarkRate(115.2, "the bench"))
    assert plan.events_per_second == pytest.approx(230.4)
    assert "115.2" in plan.basis and "the bench" in plan.basis


def test_memory_that_warms_up_and_levels_off_is_bounded() -> None:
    rss = [120, 150, 170, 180, 182, 181, 183, 185, 184, 186, 185, 187]
    samples = [_sample(10.0 * index, value) for index, value in enumerate(rss)]
    verdict = memory_verdict(samples, load_seconds=120, limit=0.2)
    assert (verdict.first_third_peak_mib, verdict.last_third_peak_mib) == (180, 187)
    assert verdict.bounded


def test_memory_that_keeps_growing_with_the_load_is_not_bounded() -> None:
    samples = [_sample(10.0 * index, 150 + 8 * index) for index in range(12)]
    verdict = memory_verdict(samples, load_seconds=120, limit=0.2)
    assert verdict.growth == pytest.approx((150 + 88) / (150 + 24) - 1)
    assert not verdict.bounded


def test_growth_exactly_at_the_limit_is_still_bounded() -> None:
    samples = [_sample(0, 100), _sample(50, 110), _sample(100, 120)]
    assert memory_verdict(samples, load_seconds=120, limit=0.2).bounded
    assert not memory_verdict([*samples[:2], _sample(100, 120.5)], load_seconds=120, limit=0.2).bounded


def test_only_samples_taken_under_load_count_towards_the_memory_verdict() -> None:
    loading = [_sample(0, 100), _sample(60, 105), _sample(110, 110)]
    draining = [_sample(125, 400, loading=False), _sample(130, 400, loading=False)]
    assert memory_verdict([*loading, *draining], load_seconds=120, limit=0.2).last_third_peak_mib == 110


def test_memtables_filling_up_are_told_apart_from_growth_elsewhere_in_the_process() -> None:
    samples = [_sample(10.0 * index, 150 + 20 * index, unflushed_table_mib=18 * index) for index in range(12)]
    assert not memory_verdict(samples, load_seconds=120, limit=0.2).bounded
    beyond = memory_verdict(samples, load_seconds=120, limit=0.2, measure=resident_beyond_memtables)
    assert (beyond.first_third_peak_mib, beyond.last_third_peak_mib) == (156, 172)
    assert beyond.bounded


def test_unflushed_table_writes_are_the_rocksdb_logs_of_every_table_partition(tmp_path: Path) -> None:
    tables = tmp_path / "v1" / "tables"
    for name, size in (("correlation-0.db/000012.log", 3 * 2**20), ("earnings-5.db/000004.log", 2**20)):
        (tables / name).parent.mkdir(parents=True, exist_ok=True)
        (tables / name).write_bytes(b"x" * size)
    (tables / "earnings-5.db" / "LOG").write_bytes(b"x" * 2**20)
    (tables / "earnings-5.db" / "000009.sst").write_bytes(b"x" * 2**20)
    assert unflushed_table_mib(tmp_path) == 4.0
    assert unflushed_table_mib(tmp_path / "absent") == 0.0


def test_a_third_of_the_load_without_a_sample_gives_no_verdict() -> None:
    with pytest.raises(ValueError, match="third"):
        memory_verdict([_sample(0, 100), _sample(30, 100)], load_seconds=120, limit=0.2)


def test_rss_over_time_takes_the_first_sample_of_each_step_and_the_last_one() -> None:
    samples = [_sample(at, 100) for at in (0.0, 25.0, 55.0, 61.0, 95.0, 119.0, 121.0, 150.0, 152.5)]
    assert [sample.at for sample in at_steps(samples, 60.0)] == [0.0, 61.0, 121.0, 152.5]
    assert at_steps([], 60.0) == []


def test_the_time_lag_is_the_largest_over_the_partitions_a_worker_reports() -> None:
    metrics = (
        "# HELP openpool_consumer_lag_seconds lag\n"
        "# TYPE openpool_consumer_lag_seconds gauge\n"
        'openpool_consumer_lag_seconds{consumer_group="g",partition="0",topic="t"} 1.5\n'
        'openpool_consumer_lag_seconds{consumer_group="g",partition="1",topic="t"} 4.25\n'
        "# HELP openpool_consumer_lag_records lag\n"
        "# TYPE openpool_consumer_lag_records gauge\n"
        'openpool_consumer_lag_records{consumer_group="g",partition="1",topic="t"} 900.0\n'
    )
    assert consumer_lag_seconds(metrics) == 4.25
    assert consumer_lag_seconds("# HELP openpool_consumer_lag_seconds lag\n") is None


def _run(drain_seconds: float | None, last_third_rss: float = 210.0) -> SoakRun:
    samples = (
        _sample(0, 200, cpu_seconds=10.0, processed=0, lag_records=0, lag_seconds=None),
        _sample(60, 205, cpu_seconds=40.0, processed=11_000, lag_records=1_200, lag_seconds=3.0),
        _sample(120, last_third_rss, cpu_seconds=70.0, processed=22_000, lag_records=2_500, lag_seconds=6.5),
        _sample(121, 215, loading=False, cpu_seconds=71.0, processed=24_000, lag_records=500, lag_seconds=1.0),
        _sample(125, 215, loading=False, cpu_seconds=72.0, processed=24_500, lag_records=0, lag_seconds=0.0),
    )
    plan = SoakPlan(200.0, "given", seconds=120, drain_within_seconds=60)
    return SoakRun(
        plan=plan,
        files=600,
        events=24_500,
        load_seconds=120.5,
        drain_seconds=drain_seconds,
        samples=samples,
        machine={"load_average_at_start": [1.0, 2.0, 3.0]},
        load_average_at_end=(1.5, 2.0, 2.5),
    )


def test_the_summary_gives_rates_peaks_lag_and_both_verdicts() -> None:
    summary = _run(drain_seconds=4.5).summary()
    assert summary["offered_events_per_second"] == pytest.approx(24_500 / 120.5, abs=0.05)
    assert summary["processed_events_per_second_under_load"] == pytest.approx(22_000 / 120, abs=0.05)
    assert summary["cpu_cores_under_load"] == 0.5
    assert (summary["peak_rss_mib"], summary["first_third_peak_rss_mib"], summary["last_third_peak_rss_mib"]) == (
        215,
        200,
        210,
    )
    assert (summary["max_lag_records"], summary["max_lag_seconds"], summary["drain_seconds"]) == (2_500, 6.5, 4.5)
    assert summary["memory_bounded"] and summary["lag_returned_to_zero"] and summary["passed"]


def test_a_soak_whose_lag_did_not_drain_or_whose_memory_grew_fails() -> None:
    undrained = _run(drain_seconds=None)
    assert not undrained.passed
    assert "LAG NOT BACK TO ZERO" in render(undrained)
    grown = _run(drain_seconds=4.5, last_third_rss=300.0)
    assert not grown.passed
    assert "NOT BOUNDED" in render(grown)


def test_the_report_has_a_row_per_minute_and_the_json_keeps_every_sample() -> None:
    run = _run(drain_seconds=4.5)
    table = [line for line in render(run).splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in table[1:]] == ["0:00", "1:00", "2:00", "2:05"]
    assert table[2].split("|")[5].strip() == "0.50"  # 30 CPU seconds over the first minute
    written = json.loads(json.dumps(run.to_json()))
    assert len(written["samples"]) == 5
    assert [step["rss_mib"] for step in written["rss_over_time"]] == [200, 205, 210, 215]
