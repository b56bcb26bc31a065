"""Rankings (1 = fastest) and export records in the predecessor's field names, never NaN."""

from __future__ import annotations

import json
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.jobs import AttributedJob
from openpool.domain.performance import AIWorkload, JobPerformance, PerformanceSummary
from openpool.domain.performance_report import (
    Ranking,
    ai_model_pipeline_rankings,
    ai_performance,
    rank_workers,
    transcode_performance,
)
from tests.domain.attributed_jobs import ALICE, BOB, CAROL, DAVE, a_transcode_job, an_ai_job

PERFORMANCE = JobPerformance()
SDXL = ("ByteDance/SDXL-Lightning", "text-to-image")
WHISPER = ("openai/whisper-large-v3", "audio-to-text")

PREDECESSOR_TRANSCODE_FIELDS = {
    "worker_address",
    "median_real_time_ratio",
    "mean_real_time_ratio",
    "min_real_time_ratio",
    "max_real_time_ratio",
    "job_count",
    "median_response_time",
    "mean_response_time",
    "total_compute_units",
    "total_fees",
    "median_compute_units_per_second",
    "mean_compute_units_per_second",
    "min_compute_units_per_second",
    "max_compute_units_per_second",
    "rank",
    "percentile",
}
PREDECESSOR_AI_FIELDS = {
    "worker_address",
    "model_id",
    "pipeline",
    "model_pipeline",
    "median_response_time",
    "mean_response_time",
    "min_response_time",
    "max_response_time",
    "job_count",
    "total_compute_units",
    "total_fees",
    "median_compute_units_per_second",
    "mean_compute_units_per_second",
    "min_compute_units_per_second",
    "max_compute_units_per_second",
}


def summary_of(*jobs: AttributedJob) -> PerformanceSummary:
    return PERFORMANCE.result(reduce(PERFORMANCE.add, jobs, PERFORMANCE.initialize()))


def ai_summary(worker: str, model_pipeline: tuple[str, str], *response_times_s: float) -> PerformanceSummary:
    model_id, pipeline = model_pipeline
    return summary_of(
        *(
            an_ai_job(worker, model_id=model_id, pipeline=pipeline, response_time_ns=round(seconds * 1e9))
            for seconds in response_times_s
        )
    )


def test_the_fastest_transcoder_ranks_first() -> None:
    records = transcode_performance(
        {
            ALICE: summary_of(a_transcode_job(ALICE, duration_ms=2000, response_time_ms=1450)),
            CAROL: summary_of(a_transcode_job(CAROL, duration_ms=2000, response_time_ms=812)),
        }
    )
    assert [(record["worker_address"], record["rank"], record["percentile"]) for record in records] == [
        (CAROL, 1, 0.0),
        (ALICE, 2, 1.0),
    ]
    assert records[0]["median_real_time_ratio"] == pytest.approx(2000 / 812, rel=0.01)


def test_the_ai_worker_with_the_lowest_median_response_time_ranks_first_per_model_and_pipeline() -> None:
    rankings = ai_model_pipeline_rankings(
        {
            AIWorkload(BOB, *SDXL): ai_summary(BOB, SDXL, 3.0, 3.0, 0.1),
            AIWorkload(DAVE, *SDXL): ai_summary(DAVE, SDXL, 2.0, 2.0, 9.0),
            AIWorkload(BOB, *WHISPER): ai_summary(BOB, WHISPER, 5.0),
        }
    )
    assert {key: [(record["worker_address"], record["rank"]) for record in rows] for key, rows in rankings.items()} == {
        "ByteDance/SDXL-Lightning | text-to-image": [(DAVE, 1), (BOB, 2)],
        "openai/whisper-large-v3 | audio-to-text": [(BOB, 1)],
    }


def test_a_lone_worker_is_at_percentile_zero() -> None:
    assert rank_workers({ALICE: 1.0}, higher_is_better=True) == {ALICE: Ranking(rank=1, percentile=0.0)}


def test_percentiles_spread_evenly_from_best_to_worst() -> None:
    rankings = rank_workers({f"0x{index}": float(index) for index in range(5)}, higher_is_better=False)
    assert [rankings[f"0x{index}"].percentile for index in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("addresses", [[CAROL, ALICE, BOB, DAVE], [BOB, DAVE, CAROL, ALICE]])
def test_equal_medians_are_ranked_by_address_whatever_the_input_order(addresses: list[str]) -> None:
    rankings = rank_workers(dict.fromkeys(addresses, 2.0), higher_is_better=True)
    assert sorted(rankings, key=lambda address: rankings[address].rank) == [ALICE, DAVE, CAROL, BOB]


def test_equal_medians_are_ranked_by_the_address_as_a_number_not_by_its_checksum_case() -> None:
    rankings = rank_workers({"0xDD": 1.0, "0xaa": 1.0}, higher_is_better=False)
    assert (rankings["0xaa"].rank, rankings["0xDD"].rank) == (1, 2)


def test_workers_without_a_sample_rank_last() -> None:
    rankings = rank_workers({ALICE: None, BOB: 0.5, CAROL: 3.0}, higher_is_better=True)
    assert [rankings[address].rank for address in (CAROL, BOB, ALICE)] == [1, 2, 3]


def test_transcode_records_carry_the_predecessors_fields_plus_p95_and_response_extremes() -> None:
    (record,) = transcode_performance({ALICE: summary_of(a_transcode_job(ALICE))})
    assert set(record) == PREDECESSOR_TRANSCODE_FIELDS | {
        "p95_real_time_ratio",
        "p95_response_time",
        "min_response_time",
        "max_response_time",
        "p95_compute_units_per_second",
    }
    assert record["median_response_time"] == pytest.approx(0.812, rel=0.01)
    assert (record["job_count"], record["total_fees"], record["total_compute_units"]) == (
        1,
        90_305_280_000,
        75_254_400,
    )


def test_ai_records_carry_the_predecessors_fields_plus_p95_and_response_times_in_seconds() -> None:
    summaries = {AIWorkload(BOB, *SDXL): summary_of(an_ai_job(BOB))}
    (record,) = ai_performance(summaries)
    assert set(record) == PREDECESSOR_AI_FIELDS | {"p95_response_time", "p95_compute_units_per_second"}
    assert record["model_pipeline"] == "ByteDance/SDXL-Lightning | text-to-image"
    assert record["median_response_time"] == pytest.approx(2.841377112, rel=0.01)
    assert record["mean_compute_units_per_second"] == pytest.approx(1_048_576 / 2.841377112)
    (ranked,) = ai_model_pipeline_rankings(summaries)["ByteDance/SDXL-Lightning | text-to-image"]
    assert ranked == record | {"rank": 1, "percentile": 0.0}


def test_ai_performance_rows_are_ordered_by_model_pipeline_and_address() -> None:
    summaries = {
        AIWorkload(DAVE, *SDXL): summary_of(an_ai_job(DAVE)),
        AIWorkload(BOB, *WHISPER): summary_of(an_ai_job(BOB, model_id=WHISPER[0], pipeline=WHISPER[1])),
        AIWorkload(BOB, *SDXL): summary_of(an_ai_job(BOB)),
    }
    assert [(record["worker_address"], record["model_id"]) for record in ai_performance(summaries)] == [
        (DAVE, SDXL[0]),
        (BOB, SDXL[0]),
        (BOB, WHISPER[0]),
    ]


def test_a_worker_whose_response_times_are_all_unknown_exports_nulls_not_nan() -> None:
    records = transcode_performance({ALICE: summary_of(a_transcode_job(ALICE, response_time_ms=0))})
    exported = json.loads(json.dumps(records, allow_nan=False))
    assert exported[0]["median_real_time_ratio"] is None
    assert exported[0]["mean_compute_units_per_second"] is None
    assert exported[0]["job_count"] == 1


def test_amounts_are_exported_as_exact_integers() -> None:
    (record,) = transcode_performance({ALICE: summary_of(*[a_transcode_job(ALICE, fees_wei=2**63 - 1)] * 2)})
    assert json.loads(json.dumps(record))["total_fees"] == 2**64 - 2


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([ALICE, BOB, CAROL, DAVE, "0x01", "0x02"]),
        st.none() | st.floats(min_value=0, max_value=1e6),
        min_size=1,
    ),
    st.booleans(),
)
def test_ranks_run_from_one_to_n_and_better_medians_never_rank_lower(
    medians: dict[str, float | None], higher_is_better: bool
) -> None:
    rankings = rank_workers(medians, higher_is_better=higher_is_better)
    assert sorted(ranking.rank for ranking in rankings.values()) == list(range(1, len(medians) + 1))
    for first, first_median in medians.items():
        for second, second_median in medians.items():
            if first_median is not None and second_median is not None and first_median != second_median:
                first_is_better = (first_median > second_median) == higher_is_better
                assert (rankings[first].rank < rankings[second].rank) == first_is_better
