"""The stage 1 -> stage 2 record: msgspec on the wire, and every record the json codec wrote still decodes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.delivery import Origin
from openpool.domain.jobs import AttributedJob
from stream_app.forwarded_jobs import ForwardedJob
from tests.domain.attributed_jobs import a_transcode_job, an_ai_job


def _json_bytes(forwarded: ForwardedJob) -> bytes:
    """Exactly what `to_bytes` wrote before msgspec."""
    job = forwarded.job
    return json.dumps(
        {
            "origin": [forwarded.origin.offset, forwarded.origin.index],
            "event_id": job.event_id,
            "partition_key": job.partition_key,
            "region": job.region,
            "node_type": job.node_type,
            "dt": job.dt.isoformat(),
            "worker_address": job.worker_address,
            "fees_wei": job.fees_wei,
            "compute_units": job.compute_units,
            "response_time_ns": job.response_time_ns,
            "duration_ms": job.duration_ms,
            "pipeline": job.pipeline,
            "model_id": job.model_id,
        },
        separators=(",", ":"),
    ).encode()


_HUGE = 2**64 + 12345
_EXAMPLES = [
    ForwardedJob(Origin(0, 0), a_transcode_job()),
    ForwardedJob(Origin(2**40, 3), an_ai_job()),
    ForwardedJob(Origin(7, 1), a_transcode_job(fees_wei=_HUGE)),
    ForwardedJob(Origin(7, 2), an_ai_job(fees_wei=10**40, model_id="ü/模型", pipeline='"quoted\\"\u2028')),
    ForwardedJob(
        Origin(9, 0),
        a_transcode_job(dt=datetime(2025, 11, 5, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))),
    ),
]


@pytest.mark.parametrize("forwarded", _EXAMPLES)
def test_a_forwarded_job_round_trips_with_fees_past_two_to_the_64(forwarded: ForwardedJob) -> None:
    decoded = ForwardedJob.from_bytes(forwarded.to_bytes())
    assert decoded == forwarded
    assert decoded.job.dt.utcoffset() == forwarded.job.dt.utcoffset()
    assert type(decoded.job.fees_wei) is int


def test_a_fee_past_two_to_the_64_is_written_as_a_json_integer() -> None:
    forwarded = _EXAMPLES[2]
    assert forwarded.job.fees_wei > 2**64
    assert json.loads(forwarded.to_bytes())["fees_wei"] == _HUGE


@pytest.mark.parametrize("forwarded", _EXAMPLES)
def test_a_record_the_json_codec_wrote_decodes_to_the_same_job(forwarded: ForwardedJob) -> None:
    assert ForwardedJob.from_bytes(_json_bytes(forwarded)) == forwarded


@pytest.mark.parametrize("forwarded", [f for f in _EXAMPLES if f.job.model_id is None or f.job.model_id.isascii()])
def test_an_ascii_record_is_written_byte_for_byte_as_the_json_codec_wrote_it(forwarded: ForwardedJob) -> None:
    assert forwarded.to_bytes() == _json_bytes(forwarded)


def test_the_written_record_reads_as_the_same_json_object() -> None:
    for forwarded in _EXAMPLES:
        assert json.loads(forwarded.to_bytes()) == json.loads(_json_bytes(forwarded))


_texts = st.text(max_size=30)
_jobs = st.builds(
    AttributedJob,
    event_id=_texts,
    partition_key=_texts,
    region=_texts,
    node_type=_texts,
    dt=st.datetimes(timezones=st.just(UTC)),
    worker_address=_texts,
    fees_wei=st.integers(min_value=0, max_value=2**256),
    compute_units=st.integers(min_value=0, max_value=2**63 - 1),
    response_time_ns=st.integers(min_value=0, max_value=2**70),
    duration_ms=st.none() | st.integers(min_value=0, max_value=2**63 - 1),
    pipeline=st.none() | _texts,
    model_id=st.none() | _texts,
)


@settings(max_examples=150, deadline=None)
@given(offset=st.integers(0, 2**63 - 1), index=st.integers(0, 1000), job=_jobs)
def test_any_job_round_trips_and_reads_back_from_the_json_codec(offset: int, index: int, job: AttributedJob) -> None:
    forwarded = ForwardedJob(Origin(offset, index), job)
    assert ForwardedJob.from_bytes(forwarded.to_bytes()) == forwarded
    assert ForwardedJob.from_bytes(_json_bytes(forwarded)) == forwarded


def _old_from_bytes(data: bytes) -> ForwardedJob:
    """The json reader as it was, for records msgspec's typed decode refuses."""
    obj: dict[str, Any] = json.loads(data)
    offset, index = obj["origin"]
    return ForwardedJob(
        origin=Origin(int(offset), int(index)),
        job=AttributedJob(
            event_id=obj["event_id"],
            partition_key=obj["partition_key"],
            region=obj["region"],
            node_type=obj["node_type"],
            dt=datetime.fromisoformat(obj["dt"]),
            worker_address=obj["worker_address"],
            fees_wei=int(obj["fees_wei"]),
            compute_units=int(obj["compute_units"]),
            response_time_ns=int(obj["response_time_ns"]),
            duration_ms=obj["duration_ms"],
            pipeline=obj["pipeline"],
            model_id=obj["model_id"],
        ),
    )


_BASE = json.loads(_json_bytes(_EXAMPLES[0]))


@pytest.mark.parametrize(
    "obj",
    [
        _BASE | {"origin": [1.0, 2]},
        _BASE | {"fees_wei": "90305280000"},
        _BASE | {"fees_wei": 9.5},
        _BASE | {"compute_units": True},
        _BASE | {"duration_ms": 1.5},
        _BASE | {"extra": {"nested": [1, 2]}},
        {key: value for key, value in reversed(_BASE.items())},
    ],
)
def test_a_record_of_another_shape_decodes_as_the_json_reader_decoded_it(obj: dict[str, Any]) -> None:
    data = json.dumps(obj).encode()
    assert ForwardedJob.from_bytes(data) == _old_from_bytes(data)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", ValueError),
        (b"[1]", TypeError),
        (json.dumps({k: v for k, v in _BASE.items() if k != "fees_wei"}).encode(), KeyError),
        (b"[" * 100_000 + b"]" * 100_000, ValueError),
    ],
)
def test_a_record_the_json_reader_refused_is_still_refused(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        ForwardedJob.from_bytes(data)


def test_a_record_nested_past_the_fast_path_budget_still_decodes() -> None:
    forwarded = replace(_EXAMPLES[0], origin=Origin(5, 5))
    data = forwarded.to_bytes()[:-1] + b',"extra":' + b"[" * 80 + b"]" * 80 + b"}"
    assert ForwardedJob.from_bytes(data) == forwarded
