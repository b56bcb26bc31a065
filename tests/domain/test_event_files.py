"""Reading S3 event files: every element is accepted or rejected with a reason, and nothing raises."""

from __future__ import annotations

import json
import string
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.event_files import Rejection, SourceKey, loads_bounded, parse_event_file, parse_event_object
from openpool.domain.events import (
    Event,
    EventType,
    ResetPayload,
    TranscodeJobProcessedPayload,
    WorkerConnectionPayload,
)
from tests.domain import envelopes
from tests.domain.envelopes import (
    ADDRESS,
    ai_job_processed,
    envelope,
    job_received,
    transcode_job_processed,
    without,
    worker_connected,
)
from tests.domain.examples import TRANSCODE_FILE, TRANSCODE_FILE_KEY

SOURCE = SourceKey.parse(envelopes.SOURCE_KEY)
assert SOURCE is not None
AI_SOURCE = SourceKey.parse("us-central/ai/us-central-ai-20251105T160512Z_20251105T160730Z.json")
assert AI_SOURCE is not None


def reason_for(document: object, source: SourceKey = SOURCE) -> str:
    outcome = parse_event_object(document, position=0, region=source.region, node_type=source.node_type)
    assert isinstance(outcome, Rejection), outcome
    return outcome.reason


def test_the_documented_file_yields_its_three_events_in_order() -> None:
    source = SourceKey.parse(TRANSCODE_FILE_KEY)
    assert source is not None
    parsed = parse_event_file(source, TRANSCODE_FILE)
    assert parsed.rejections == ()
    assert [item.position for item in parsed.events] == [0, 1, 2]
    assert [type(item.event.payload) for item in parsed.events] == [
        ResetPayload,
        WorkerConnectionPayload,
        TranscodeJobProcessedPayload,
    ]
    assert [item.event.event_type for item in parsed.events] == [
        EventType.ORCHESTRATOR_RESET,
        EventType.WORKER_CONNECTED,
        EventType.JOB_PROCESSED,
    ]


@pytest.mark.parametrize("body", [b"null", b" null\n", b"[]"])
def test_a_file_without_elements_yields_neither_events_nor_rejections(body: bytes) -> None:
    parsed = parse_event_file(SOURCE, body)
    assert (parsed.events, parsed.rejections) == ((), ())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "invalid_json"),
        (b"[{", "invalid_json"),
        (b"\xff\xfe\x00", "invalid_json"),
        (b"[" + b"9" * 5000 + b"]", "invalid_json"),
        (json.dumps(transcode_job_processed()).encode(), "not_an_array"),
        (b'"[]"', "not_an_array"),
        (b"42", "not_an_array"),
    ],
)
def test_a_file_that_is_not_a_json_array_is_one_rejection_of_the_whole_file(body: bytes, reason: str) -> None:
    parsed = parse_event_file(SOURCE, body)
    assert parsed.events == ()
    assert [(rejection.reason, rejection.position, rejection.raw) for rejection in parsed.rejections] == [
        (reason, None, body)
    ]


def test_rejections_carry_the_position_and_raw_bytes_of_their_element_and_good_neighbours_survive() -> None:
    good = transcode_job_processed()
    bad = transcode_job_processed(fees=-5)
    parsed = parse_event_file(SOURCE, json.dumps([good, bad, 7, good]).encode())
    assert [item.position for item in parsed.events] == [0, 3]
    assert [(rejection.position, rejection.reason) for rejection in parsed.rejections] == [
        (1, "negative_fees"),
        (2, "not_an_object"),
    ]
    assert json.loads(parsed.rejections[0].raw) == bad


@pytest.mark.parametrize("element", [7, "event", None, [transcode_job_processed()], True, 1.5])
def test_an_element_that_is_not_an_object_is_rejected(element: object) -> None:
    assert reason_for(element) == "not_an_object"


@pytest.mark.parametrize("field", ["ID", "EventType", "Version", "NodeType", "Region", "DT", "Payload"])
def test_an_envelope_missing_a_field_is_rejected_naming_it(field: str) -> None:
    assert reason_for(without(transcode_job_processed(), field)) == f"missing_field:{field}"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (transcode_job_processed(), "ethAddress"),
        (transcode_job_processed(), "fees"),
        (transcode_job_processed(), "computeUnits"),
        (transcode_job_processed(), "pricePerComputeUnit"),
        (transcode_job_processed(), "responseTime"),
        (transcode_job_processed(), "duration"),
        (transcode_job_processed(), "realTimeRatio"),
        (ai_job_processed(), "requestID"),
        (ai_job_processed(), "modelID"),
        (ai_job_processed(), "pipeline"),
        (ai_job_processed(), "responseTime"),
        (job_received(), "ethAddress"),
        (job_received(), "requestID"),
        (worker_connected(), "connection"),
        (worker_connected(), "ethAddress"),
    ],
)
def test_a_payload_missing_a_field_is_rejected_naming_it(document: dict[str, Any], field: str) -> None:
    source = AI_SOURCE if document["NodeType"] == "ai" else SOURCE
    assert reason_for(without(document, field), source) == f"missing_field:{field}"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (transcode_job_processed(ethAddress="0x123"), "invalid_address"),
        (transcode_job_processed(ethAddress="0x" + "g" * 40), "invalid_address"),
        (worker_connected(ethAddress="alice"), "invalid_address"),
        (transcode_job_processed(fees=-1), "negative_fees"),
        (transcode_job_processed(fees=1.5), "wrong_type:fees"),
        (transcode_job_processed(fees=1.0), "wrong_type:fees"),
        (transcode_job_processed(fees=True), "wrong_type:fees"),
        (transcode_job_processed(fees="90305280000"), "wrong_type:fees"),
        (transcode_job_processed(fees=None), "wrong_type:fees"),
        (transcode_job_processed(responseTime=[812]), "wrong_type:responseTime"),
        (transcode_job_processed(ethAddress={"hex": "0x"}), "wrong_type:ethAddress"),
        (transcode_job_processed() | {"ID": 7}, "wrong_type:ID"),
        (transcode_job_processed() | {"Version": "1"}, "wrong_type:Version"),
        (transcode_job_processed() | {"Version": True}, "wrong_type:Version"),
        (transcode_job_processed() | {"Payload": []}, "wrong_type:Payload"),
        (transcode_job_processed(fees=2**63), "out_of_range:fees"),
        (transcode_job_processed(computeUnits=-1), "out_of_range:computeUnits"),
        (transcode_job_processed(duration=2**64), "out_of_range:duration"),
        (worker_connected(connection="x" * 513), "out_of_range:connection"),
        (transcode_job_processed() | {"EventType": "job-finished"}, "unknown_event_type"),
        (transcode_job_processed() | {"Version": 2}, "unsupported_version"),
        (transcode_job_processed() | {"Version": 0}, "unsupported_version"),
        (transcode_job_processed() | {"Region": "eu-central"}, "partition_mismatch"),
        (transcode_job_processed() | {"NodeType": "ai"}, "partition_mismatch"),
        (transcode_job_processed() | {"DT": "2025-11-05T15:21:31"}, "invalid_timestamp"),
        (transcode_job_processed() | {"DT": "2025-11-05"}, "invalid_timestamp"),
        (transcode_job_processed() | {"DT": "yesterday"}, "invalid_timestamp"),
        (transcode_job_processed() | {"DT": "2025-13-05T15:21:31Z"}, "invalid_timestamp"),
        (transcode_job_processed() | {"ID": "not-a-uuid"}, "invalid_id"),
        (transcode_job_processed() | {"ID": "dc186dc7-24a4-492a-b462-e477ee1786f"}, "invalid_id"),
        (transcode_job_processed() | {"ID": "dc186dc724a4492ab462e477ee1786fd"}, "invalid_id"),
    ],
)
def test_a_malformed_event_is_rejected_with_its_reason(document: dict[str, Any], reason: str) -> None:
    assert reason_for(document) == reason


@pytest.mark.parametrize("field", ["ID", "EventType", "NodeType", "Region", "DT"])
def test_an_empty_envelope_field_is_rejected_naming_it(field: str) -> None:
    assert reason_for(transcode_job_processed() | {field: ""}) == f"empty_field:{field}"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (worker_connected(connection=""), "connection"),
        (job_received(requestID=""), "requestID"),
        (job_received(modelID=""), "modelID"),
        (ai_job_processed(pipeline=""), "pipeline"),
    ],
)
def test_an_empty_payload_field_is_rejected_naming_it(document: dict[str, Any], field: str) -> None:
    assert reason_for(document, AI_SOURCE if document["NodeType"] == "ai" else SOURCE) == f"empty_field:{field}"


def test_a_job_of_a_node_type_that_is_neither_ai_nor_transcode_is_rejected() -> None:
    source = SourceKey.parse("us-central/gpu/us-central-gpu-20251105T152058Z_20251105T152131Z.json")
    assert source is not None
    document = transcode_job_processed() | {"NodeType": "gpu"}
    assert reason_for(document, source) == "unknown_node_type"


def test_events_other_than_jobs_are_accepted_from_any_node_type() -> None:
    source = SourceKey.parse("us-central/gpu/us-central-gpu-20251105T152058Z_20251105T152131Z.json")
    assert source is not None
    parsed = parse_event_file(source, json.dumps([envelope("orchestrator-reset", {}, node_type="gpu")]).encode())
    assert parsed.rejections == ()


def test_a_time_that_leaves_the_datetime_range_in_utc_is_rejected_not_raised() -> None:
    body = json.dumps([transcode_job_processed() | {"DT": "0001-01-01T00:00:00+01:00"}]).encode()
    assert [rejection.reason for rejection in parse_event_file(SOURCE, body).rejections] == ["invalid_timestamp"]


def test_a_file_nested_deeper_than_the_stack_is_rejected_even_where_web3_is_imported() -> None:
    script = (
        "import py_ecc\n"
        "from openpool.domain.event_files import SourceKey, parse_event_file\n"
        f"source = SourceKey.parse({envelopes.SOURCE_KEY!r})\n"
        "print(parse_event_file(source, b'[' * 1_000_000 + b']' * 1_000_000).element_count)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "1")


# --- S3 keys ---


@pytest.mark.parametrize(
    ("key", "region", "node_type", "start", "end"),
    [
        (
            TRANSCODE_FILE_KEY,
            "us-central",
            "transcode",
            datetime(2025, 11, 5, 15, 20, 58, tzinfo=UTC),
            datetime(2025, 11, 5, 15, 21, 31, tzinfo=UTC),
        ),
        (
            "oceania/ai/oceania-ai-20251231T235959Z_20260101T000001Z.json",
            "oceania",
            "ai",
            datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC),
        ),
    ],
)
def test_an_emitter_key_gives_its_partition_and_time_span(
    key: str, region: str, node_type: str, start: datetime, end: datetime
) -> None:
    source = SourceKey.parse(key)
    assert source == SourceKey(key=key, region=region, node_type=node_type, start=start, end=end)
    assert source.prefix == f"{region}/{node_type}/"


@pytest.mark.parametrize(
    "key",
    [
        "eu-central/transcode/us-central-transcode-20251105T152058Z_20251105T152131Z.json",
        "us-central/transcode/us-central-ai-20251105T152058Z_20251105T152131Z.json",
        "us-central/transcode/20251105T152058Z_20251105T152131Z.json",
        "us-central/transcode/us-central-transcode-20251105T152058Z.json",
        "us-central/transcode/us-central-transcode-20251105T152058Z-20251105T152131Z.json",
        "us-central/transcode/us-central-transcode-20251105T152058Z_20251105T152131Z.json.gz",
        "us-central/transcode/us-central-transcode-20251105T152058Z_20251105T152131Z.txt",
        "us-central/transcode/us-central-transcode-20251105T152058Z_20251105T152131Z",
        "archive/us-central/transcode/us-central-transcode-20251105T152058Z_20251105T152131Z.json",
        "us-central/transcode/late/us-central-transcode-20251105T152058Z_20251105T152131Z.json",
        "/us-central/transcode/us-central-transcode-20251105T152058Z_20251105T152131Z.json",
        "us-central-transcode-20251105T152058Z_20251105T152131Z.json",
        "us-central/transcode/",
        "us-central//us-central--20251105T152058Z_20251105T152131Z.json",
        "us-central/transcode/us-central-transcode-20251305T152058Z_20251105T152131Z.json",
        "us-central/transcode/us-central-transcode-2025115T152058Z_20251105T152131Z.json",
    ],
)
def test_a_key_outside_the_emitter_layout_is_not_a_source(key: str) -> None:
    assert SourceKey.parse(key) is None


@pytest.mark.parametrize(
    "key",
    [
        "us-central/transcode/us-central-transcode-20251105T152058Z_20251105T152131Z.json\n",
        "us-central/transcode/us-central-transcode-٢٠٢٥1105T152058Z_20251105T152131Z.json",
    ],
)
def test_a_key_with_a_trailing_newline_or_non_ascii_digits_is_not_a_source(key: str) -> None:
    assert SourceKey.parse(key) is None


partition_names = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=20)
key_times = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 1, 1)).map(
    lambda moment: moment.replace(microsecond=0, tzinfo=UTC)
)


@settings(max_examples=200, deadline=None)
@given(partition_names, partition_names, key_times, key_times)
def test_every_key_the_emitter_can_write_parses_back(
    region: str, node_type: str, start: datetime, end: datetime
) -> None:
    stamp = "%Y%m%dT%H%M%SZ"
    key = f"{region}/{node_type}/{region}-{node_type}-{start.strftime(stamp)}_{end.strftime(stamp)}.json"
    assert SourceKey.parse(key) == SourceKey(key=key, region=region, node_type=node_type, start=start, end=end)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parsing_any_text_as_a_key_never_raises(key: str) -> None:
    source = SourceKey.parse(key)
    assert source is None or source.key == key


# --- nothing raises, nothing is lost ---


def assert_every_element_accounted_for(body: bytes) -> None:
    parsed = parse_event_file(SOURCE, body)
    positions = [item.position for item in parsed.events] + [rejection.position for rejection in parsed.rejections]
    try:
        document = loads_bounded(body)
    except (ValueError, RecursionError):
        document = body
    if isinstance(document, list):
        assert sorted(position for position in positions if position is not None) == list(range(len(document)))
        assert len(positions) == len(document)
    elif document is None:
        assert positions == []
    else:
        assert positions == [None]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_accepted_or_rejected_without_raising(body: bytes) -> None:
    assert_every_element_accounted_for(body)


@settings(max_examples=300, deadline=None)
@given(envelopes.json_values)
def test_any_json_document_is_accepted_or_rejected_without_raising(document: Any) -> None:
    assert_every_element_accounted_for(json.dumps(document).encode())


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=5000), st.sampled_from(["[", '{"Payload":']))
def test_deeply_nested_documents_are_rejected_without_raising(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    assert_every_element_accounted_for(f"[{opener * depth}1{closer * depth}]".encode())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.just(True), envelopes.valid_envelopes())
        | st.tuples(st.just(False), envelopes.spoiled_envelopes())
        | st.tuples(st.just(False), envelopes.json_values),
        max_size=8,
    )
)
def test_valid_events_survive_any_hostile_neighbours_and_every_element_is_counted(
    elements: list[tuple[bool, Any]],
) -> None:
    body = json.dumps([document for _, document in elements]).encode()
    assert_every_element_accounted_for(body)
    accepted = {item.position for item in parse_event_file(SOURCE, body).events}
    assert {position for position, (valid, _) in enumerate(elements) if valid} <= accepted


@settings(max_examples=200, deadline=None)
@given(envelopes.valid_envelopes())
def test_parsing_an_object_directly_agrees_with_parsing_it_in_a_file(document: dict[str, Any]) -> None:
    event = parse_event_object(document, region=SOURCE.region, node_type=SOURCE.node_type)
    assert isinstance(event, Event)
    assert parse_event_file(SOURCE, json.dumps([document]).encode()).events[0].event == event


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "invalid_address"),  # last letter's case flipped
        ("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "invalid_address"),  # no 0x
        ("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", None),  # one case: no checksum claimed
    ],
)
def test_a_mixed_case_address_must_carry_a_valid_eip55_checksum(address: str, reason: str | None) -> None:
    body = json.dumps([transcode_job_processed(ethAddress=address)]).encode()
    parsed = parse_event_file(SOURCE, body)
    assert [rejection.reason for rejection in parsed.rejections] == ([reason] if reason else [])
    if reason is None:
        assert parsed.events[0].event.worker_address == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def test_an_event_id_must_be_a_canonical_uuid() -> None:
    odd = "----0123456789abcdef0123456789abcdef"
    body = json.dumps([transcode_job_processed() | {"ID": odd}]).encode()
    assert [rejection.reason for rejection in parse_event_file(SOURCE, body).rejections] == ["invalid_id"]


def test_an_event_dated_more_than_an_hour_after_the_readers_clock_is_refused_as_from_the_future() -> None:
    now = datetime(2025, 11, 5, 15, 0, tzinfo=UTC)
    soon = transcode_job_processed() | {"DT": "2025-11-05T15:59:59Z"}
    later = transcode_job_processed() | {"DT": "2025-11-05T16:00:01Z"}
    parsed = parse_event_file(SOURCE, json.dumps([soon, later]).encode(), now=now)
    assert [item.position for item in parsed.events] == [0]
    assert [(r.position, r.reason) for r in parsed.rejections] == [(1, "future_timestamp")]
    assert len(parse_event_file(SOURCE, json.dumps([later]).encode()).events) == 1  # no clock, no check


def test_a_ticket_hash_longer_than_a_transaction_hash_is_refused() -> None:
    ticket = envelope(
        "ticket-redeemed",
        {
            "recipient": ADDRESS,
            "sender": ADDRESS,
            "faceValue": 1,
            "winProb": 1,
            "pricePerPixel": "1/2",
            "creationRound": 1,
            "txHash": "0x" + "ab" * 40,
        },
    )
    assert [r.reason for r in parse_event_file(SOURCE, json.dumps([ticket]).encode()).rejections] == [
        "out_of_range:txHash"
    ]
