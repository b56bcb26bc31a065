"""Attributed jobs for the fee and performance tests, built by hand or drawn by hypothesis."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from openpool.domain.jobs import NS_PER_MS, AttributedJob

ALICE = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
BOB = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
CAROL = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
DAVE = "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"
NOON = datetime(2025, 11, 5, 12, 0, tzinfo=UTC)

_event_numbers = itertools.count()


def _event_id() -> str:
    return f"00000000-0000-4000-8000-{next(_event_numbers):012d}"


def a_transcode_job(
    worker: str = ALICE,
    *,
    fees_wei: int = 90_305_280_000,
    response_time_ms: int = 812,
    duration_ms: int = 2000,
    compute_units: int = 75_254_400,
    dt: datetime = NOON,
    partition_key: str = "us-central|transcode",
) -> AttributedJob:
    region, _, node_type = partition_key.partition("|")
    return AttributedJob(
        event_id=_event_id(),
        partition_key=partition_key,
        region=region,
        node_type=node_type,
        dt=dt,
        worker_address=worker,
        fees_wei=fees_wei,
        compute_units=compute_units,
        response_time_ns=response_time_ms * NS_PER_MS,
        duration_ms=duration_ms,
        pipeline=None,
        model_id=None,
    )


def an_ai_job(
    worker: str = BOB,
    *,
    model_id: str = "ByteDance/SDXL-Lightning",
    pipeline: str = "text-to-image",
    fees_wei: int = 4_999_999_389_696,
    response_time_ns: int = 2_841_377_112,
    compute_units: int = 1_048_576,
    dt: datetime = NOON,
) -> AttributedJob:
    return AttributedJob(
        event_id=_event_id(),
        partition_key="us-central|ai",
        region="us-central",
        node_type="ai",
        dt=dt,
        worker_address=worker,
        fees_wei=fees_wei,
        compute_units=compute_units,
        response_time_ns=response_time_ns,
        duration_ms=None,
        pipeline=pipeline,
        model_id=model_id,
    )


int64s = st.integers(min_value=0, max_value=2**63 - 1)
within_two_days = st.integers(min_value=0, max_value=2 * 86400).map(lambda seconds: NOON + timedelta(seconds=seconds))

transcode_jobs = st.builds(
    a_transcode_job,
    st.sampled_from([ALICE, CAROL]),
    fees_wei=int64s,
    response_time_ms=st.integers(min_value=0, max_value=60_000),
    duration_ms=st.integers(min_value=0, max_value=10_000),
    compute_units=int64s,
    dt=within_two_days,
    partition_key=st.sampled_from(["us-central|transcode", "eu-central|transcode"]),
)
ai_jobs = st.builds(
    an_ai_job,
    st.sampled_from([BOB, DAVE]),
    model_id=st.sampled_from(["ByteDance/SDXL-Lightning", "openai/whisper-large-v3"]),
    pipeline=st.sampled_from(["text-to-image", "audio-to-text"]),
    fees_wei=int64s,
    response_time_ns=st.integers(min_value=0, max_value=120 * 10**9),
    compute_units=int64s,
    dt=within_two_days,
)
attributed_jobs = transcode_jobs | ai_jobs
