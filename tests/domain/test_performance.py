"""Worker performance: per-job samples in proper units, and rolling event-time windows of bounded size."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import reduce
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.event_files import parse_event_object
from openpool.domain.events import Event
from openpool.domain.jobs import AttributedJob, ai_job, transcode_job
from openpool.domain.performance import (
    AIWorkload,
    JobPerformance,
    JobSample,
    JobStats,
    RollingPerformance,
    RollingState,
    job_sample,
)
from tests.domain.attributed_jobs import BOB, NOON, a_transcode_job, an_ai_job, attributed_jobs
from tests.domain.examples import AI_JOBS_PROCESSED, TRANSCODE_JOBS_PROCESSED

PERFORMANCE = JobPerformance()
ROLLING = RollingPerformance()
HOUR, DAY = 3600, 86400


def example(line: str) -> Event:
    event = parse_event_object(json.loads(line))
    assert isinstance(event, Event)
    return event


def stats_of(jobs: list[AttributedJob]) -> JobStats:
    return reduce(PERFORMANCE.add, jobs, PERFORMANCE.initialize())


def rolling_of(jobs: list[AttributedJob], rolling: RollingPerformance = ROLLING) -> RollingState:
    return reduce(rolling.add, jobs, rolling.initialize())


# --- per-job samples ---


def test_the_real_time_ratio_is_duration_over_response_time_not_the_emitters_truncated_integer() -> None:
    sample = job_sample(transcode_job(example(TRANSCODE_JOBS_PROCESSED[0])))
    assert sample.real_time_ratio == pytest.approx(2000 / 812)
    assert sample.real_time_ratio == pytest.approx(2.463, abs=5e-4)


def test_a_transcode_response_time_is_reported_in_seconds() -> None:
    sample = job_sample(transcode_job(example(TRANSCODE_JOBS_PROCESSED[0])))
    assert sample.response_time_seconds == pytest.approx(0.812)
    assert sample.compute_units_per_second == pytest.approx(75_254_400 / 0.812)


def test_an_ai_response_time_in_nanoseconds_is_reported_in_seconds() -> None:
    sample = job_sample(ai_job(example(AI_JOBS_PROCESSED[0]), BOB))
    assert sample == JobSample(
        real_time_ratio=None,
        response_time_seconds=pytest.approx(2.841377112),
        compute_units_per_second=pytest.approx(1_048_576 / 2.841377112),
    )


def test_a_zero_response_time_is_unknown_and_gives_no_samples() -> None:
    assert job_sample(transcode_job(example(TRANSCODE_JOBS_PROCESSED[2]))) == JobSample(None, None, None)


def test_a_job_with_unknown_response_time_still_counts_with_its_fees_and_compute_units() -> None:
    jobs = [a_transcode_job(response_time_ms=0, fees_wei=5, compute_units=7), a_transcode_job(fees_wei=1)]
    summary = PERFORMANCE.result(stats_of(jobs))
    assert (summary.job_count, summary.total_fees, summary.total_compute_units) == (2, 6, 75_254_407)
    assert summary.real_time_ratio.count == summary.response_time_seconds.count == 1
    assert summary.real_time_ratio.median == pytest.approx(2000 / 812)


def test_ai_jobs_have_no_real_time_ratio() -> None:
    summary = PERFORMANCE.result(stats_of([an_ai_job(), an_ai_job()]))
    assert summary.real_time_ratio.count == 0
    assert summary.real_time_ratio.median is None
    assert summary.response_time_seconds.median == pytest.approx(2.841377112, rel=0.01)


def test_fee_totals_stay_exact_integers_beyond_int64() -> None:
    summary = PERFORMANCE.result(stats_of([a_transcode_job(fees_wei=2**63 - 1)] * 3))
    assert summary.total_fees == 3 * (2**63 - 1)


def test_an_ai_workload_is_one_worker_model_and_pipeline() -> None:
    workload = AIWorkload.of(an_ai_job(BOB, model_id="openai/whisper-large-v3", pipeline="audio-to-text"))
    assert workload == AIWorkload(BOB, "openai/whisper-large-v3", "audio-to-text")
    assert workload.model_pipeline == "openai/whisper-large-v3 | audio-to-text"


def test_a_transcode_job_has_no_ai_workload() -> None:
    with pytest.raises(ValueError, match="no model and pipeline"):
        AIWorkload.of(a_transcode_job())


@settings(max_examples=200, deadline=None)
@given(st.lists(attributed_jobs, max_size=20), st.lists(attributed_jobs, max_size=20))
def test_merging_the_stats_of_two_parts_gives_the_stats_of_the_whole(
    left: list[AttributedJob], right: list[AttributedJob]
) -> None:
    assert PERFORMANCE.merge(stats_of(left), stats_of(right)) == stats_of(left + right)


@settings(max_examples=200, deadline=None)
@given(st.lists(attributed_jobs, max_size=30), st.randoms(use_true_random=False))
def test_the_same_jobs_in_any_order_give_the_same_stats(jobs: list[AttributedJob], shuffler: Random) -> None:
    shuffled = list(jobs)
    shuffler.shuffle(shuffled)
    assert stats_of(shuffled) == stats_of(jobs)


# --- rolling windows ---


def at(minutes: float) -> datetime:
    return NOON + timedelta(minutes=minutes)


def test_a_window_holds_the_jobs_whose_event_time_falls_inside_it() -> None:
    state = rolling_of([a_transcode_job(dt=at(-150)), a_transcode_job(dt=at(-30)), a_transcode_job(dt=at(0))])
    assert ROLLING.result(state, now=NOON, window_seconds=HOUR).job_count == 2
    assert ROLLING.result(state, now=NOON, window_seconds=DAY).job_count == 3


def test_a_window_moves_with_now_and_an_idle_worker_ends_up_empty() -> None:
    state = rolling_of([a_transcode_job(dt=at(0))])
    assert ROLLING.result(state, now=at(59), window_seconds=HOUR).job_count == 1
    idle = ROLLING.result(state, now=at(63), window_seconds=HOUR)
    assert idle.job_count == 0
    assert idle.real_time_ratio.median is None


def test_jobs_stamped_after_now_are_not_in_the_window() -> None:
    state = rolling_of([a_transcode_job(dt=at(10))])
    assert ROLLING.result(state, now=NOON, window_seconds=HOUR).job_count == 0


def test_event_time_not_arrival_order_decides_the_bucket() -> None:
    state = rolling_of([a_transcode_job(dt=at(0)), a_transcode_job(dt=at(-20), response_time_ms=4000)])
    summary = ROLLING.result(state, now=NOON, window_seconds=HOUR)
    assert summary.job_count == 2
    assert summary.response_time_seconds.max == 4.0


def test_a_job_too_late_for_a_window_is_left_out_of_that_window_only() -> None:
    state = rolling_of([a_transcode_job(dt=at(0)), a_transcode_job(dt=at(-120))])
    assert ROLLING.result(state, now=NOON, window_seconds=HOUR).job_count == 1
    assert ROLLING.result(state, now=NOON, window_seconds=DAY).job_count == 2


def test_the_state_stays_bounded_however_many_jobs_arrive() -> None:
    state = rolling_of([a_transcode_job(dt=at(minutes)) for minutes in range(0, 10 * 24 * 60, 2)])
    assert {window: len(buckets) for window, buckets in state.items()} == {"3600": 25, "86400": 25}


def test_a_window_holds_every_job_of_its_span_and_at_most_one_bucket_more() -> None:
    jobs = [a_transcode_job(dt=at(minutes)) for minutes in range(0, 3 * 24 * 60, 2)]
    now = jobs[-1].dt + timedelta(seconds=30)
    for window in (HOUR, DAY):
        bucket = timedelta(seconds=ROLLING.bucket_seconds(window))
        span = [job for job in jobs if now - timedelta(seconds=window) < job.dt <= now]
        with_one_more_bucket = [job for job in jobs if now - timedelta(seconds=window) - bucket < job.dt <= now]
        count = ROLLING.result(rolling_of(jobs), now=now, window_seconds=window).job_count
        assert len(span) <= count <= len(with_one_more_bucket)


def test_the_rolling_state_is_plain_json_that_round_trips() -> None:
    state = rolling_of([a_transcode_job(dt=at(-30)), a_transcode_job(dt=at(0), response_time_ms=0), an_ai_job()])
    restored = json.loads(json.dumps(state, allow_nan=False))
    assert restored == state
    assert ROLLING.result(restored, now=NOON, window_seconds=HOUR) == ROLLING.result(
        state, now=NOON, window_seconds=HOUR
    )


def test_windows_no_longer_configured_are_dropped_and_new_ones_start_empty() -> None:
    state = rolling_of([a_transcode_job(dt=at(0))], RollingPerformance(windows_seconds=(HOUR,)))
    wider = RollingPerformance(windows_seconds=(DAY,))
    state = wider.add(state, a_transcode_job(dt=at(1)))
    assert set(state) == {"86400"}
    assert wider.result(state, now=at(1), window_seconds=DAY).job_count == 1


def test_asking_for_a_window_that_is_not_kept_is_refused() -> None:
    with pytest.raises(ValueError, match="no window of 600 s"):
        ROLLING.result(ROLLING.initialize(), now=NOON, window_seconds=600)


@pytest.mark.parametrize(
    ("windows", "buckets"), [((3600, 86400), 7), ((), 24), ((3600, 3600), 24), ((0,), 1), ((3600,), 0)]
)
def test_windows_that_do_not_split_into_whole_second_buckets_are_refused(
    windows: tuple[int, ...], buckets: int
) -> None:
    with pytest.raises(ValueError, match="window"):
        RollingPerformance(windows_seconds=windows, buckets_per_window=buckets)


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(TypeError):
        ROLLING.result(ROLLING.initialize(), now=datetime(2025, 11, 5, 12, 0), window_seconds=HOUR)


@settings(max_examples=200, deadline=None)
@given(st.lists(attributed_jobs, max_size=30), st.randoms(use_true_random=False))
def test_the_same_jobs_in_any_order_give_the_same_rolling_state(jobs: list[AttributedJob], shuffler: Random) -> None:
    shuffled = list(jobs)
    shuffler.shuffle(shuffled)
    assert rolling_of(shuffled) == rolling_of(jobs)


@settings(max_examples=200, deadline=None)
@given(st.lists(attributed_jobs, max_size=30), st.integers(min_value=0, max_value=3 * 86400))
def test_a_window_result_equals_the_stats_of_the_jobs_in_its_buckets(jobs: list[AttributedJob], offset: int) -> None:
    now = NOON + timedelta(seconds=offset)
    newest = max((job.dt for job in jobs), default=now)
    for window in ROLLING.windows_seconds:
        bucket = ROLLING.bucket_seconds(window)

        def bucket_start(moment: datetime, size: int = bucket) -> datetime:
            return moment - timedelta(seconds=int(moment.timestamp()) % size)

        horizon = bucket_start(newest) - timedelta(seconds=window + bucket)
        inside = [
            job
            for job in jobs
            if horizon < bucket_start(job.dt) and now - timedelta(seconds=window + bucket) < bucket_start(job.dt) <= now
        ]
        assert ROLLING.result(rolling_of(jobs), now=now, window_seconds=window) == PERFORMANCE.result(stats_of(inside))


@settings(max_examples=100, deadline=None)
@given(st.lists(attributed_jobs, max_size=40))
def test_placing_jobs_bucket_by_bucket_keeps_exactly_the_buckets_add_keeps(jobs: list[AttributedJob]) -> None:
    stored: dict[str, dict[int, JobStats]] = {str(window): {} for window in ROLLING.windows_seconds}
    for job in jobs:
        known = {window: list(buckets) for window, buckets in stored.items()}
        for window, placement in ROLLING.placement(known, job).items():
            for start in placement.expired:
                del stored[window][start]
            if placement.start is not None:
                bucket = stored[window].get(placement.start, ROLLING.aggregate.initialize())
                stored[window][placement.start] = ROLLING.aggregate.add(bucket, job)
    as_state = {window: {str(start): stats for start, stats in buckets.items()} for window, buckets in stored.items()}
    assert as_state == rolling_of(jobs)
