"""The event contract: each documented event becomes one typed value in the emitter's units."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings

from openpool.domain.event_files import parse_event_object
from openpool.domain.events import (
    AIJobProcessedPayload,
    Event,
    JobReceivedPayload,
    ResetPayload,
    TicketRedeemedPayload,
    TranscodeJobProcessedPayload,
    WorkerConnectionPayload,
    partition_key,
    split_partition_key,
)
from tests.domain import envelopes
from tests.domain.examples import (
    AI_JOBS_PROCESSED,
    ALL_EXAMPLES,
    JOBS_RECEIVED,
    ORCHESTRATOR_RESETS,
    TRANSCODE_JOBS_PROCESSED,
    WORKER_CONNECTIONS,
)


def parsed(document: str | dict[str, Any]) -> Event:
    outcome = parse_event_object(json.loads(document) if isinstance(document, str) else document)
    assert isinstance(outcome, Event), outcome
    return outcome


@pytest.mark.parametrize("line", ALL_EXAMPLES)
def test_every_documented_example_parses_and_writes_back_as_the_emitter_wrote_it(line: str) -> None:
    assert parsed(line).to_envelope() == json.loads(line)


@pytest.mark.parametrize(
    ("lines", "payload_type"),
    [
        (ORCHESTRATOR_RESETS, ResetPayload),
        (WORKER_CONNECTIONS, WorkerConnectionPayload),
        (JOBS_RECEIVED, JobReceivedPayload),
        (AI_JOBS_PROCESSED, AIJobProcessedPayload),
        (TRANSCODE_JOBS_PROCESSED, TranscodeJobProcessedPayload),
    ],
)
def test_the_payload_type_follows_the_event_type_and_for_jobs_the_node_type(
    lines: tuple[str, ...], payload_type: type[object]
) -> None:
    assert all(isinstance(parsed(line).payload, payload_type) for line in lines)


def test_an_ai_job_keeps_its_response_time_in_nanoseconds_and_its_fees_in_wei() -> None:
    assert parsed(AI_JOBS_PROCESSED[0]).payload == AIJobProcessedPayload(
        requestID="3f9a0c1e",
        pipeline="text-to-image",
        modelID="ByteDance/SDXL-Lightning",
        responseTime=2_841_377_112,
        computeUnits=1_048_576,
        pricePerComputeUnit=4_768_371,
        fees=4_999_999_389_696,
    )


def test_a_transcode_job_keeps_milliseconds_and_the_emitters_truncated_ratio() -> None:
    assert parsed(TRANSCODE_JOBS_PROCESSED[0]).payload == TranscodeJobProcessedPayload(
        ethAddress="0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        computeUnits=75_254_400,
        pricePerComputeUnit=1200,
        fees=90_305_280_000,
        responseTime=812,
        duration=2000,
        realTimeRatio=2,
    )


def test_an_ai_job_priced_below_one_wei_per_unit_is_accepted_with_zero_fees() -> None:
    payload = parsed(AI_JOBS_PROCESSED[2]).payload
    assert isinstance(payload, AIJobProcessedPayload)
    assert (payload.fees, payload.price_per_compute_unit, payload.compute_units) == (0, 0, 14_745_600)


def test_a_transcode_job_hit_by_the_response_time_race_is_accepted() -> None:
    payload = parsed(TRANSCODE_JOBS_PROCESSED[2]).payload
    assert isinstance(payload, TranscodeJobProcessedPayload)
    assert (payload.response_time_ms, payload.real_time_ratio, payload.fees) == (0, 0, 16_588_800_000)


def test_the_event_time_is_an_aware_utc_datetime() -> None:
    assert parsed(TRANSCODE_JOBS_PROCESSED[0]).dt == datetime(2025, 11, 5, 15, 21, 31, tzinfo=UTC)


def test_a_time_with_another_offset_is_moved_to_utc() -> None:
    event = parsed(envelopes.transcode_job_processed() | {"DT": "2025-11-05T17:21:31+02:00"})
    assert event.dt == datetime(2025, 11, 5, 15, 21, 31, tzinfo=UTC)
    assert event.to_envelope()["DT"] == "2025-11-05T15:21:31Z"


def test_fractional_seconds_survive_the_round_trip() -> None:
    event = parsed(envelopes.transcode_job_processed() | {"DT": "2025-11-05T15:21:31.250Z"})
    assert event.dt.microsecond == 250_000
    assert parsed(event.to_envelope()) == event


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (envelopes.worker_connected(), "ethAddress"),
        (envelopes.job_received(), "ethAddress"),
        (envelopes.transcode_job_processed(), "ethAddress"),
    ],
)
@pytest.mark.parametrize("spelling", [str.lower, str.upper])
def test_addresses_come_out_eip55_checksummed_whatever_their_case(
    document: dict[str, Any], field: str, spelling: Any
) -> None:
    address = document["Payload"][field]
    respelled = document | {"Payload": document["Payload"] | {field: "0x" + spelling(address[2:])}}
    event = parsed(respelled)
    assert event.worker_address == address
    assert event.to_envelope() == document


def test_ticket_redemptions_keep_their_big_integers_and_checksum_their_addresses() -> None:
    document = envelopes.envelope(
        "ticket-redeemed",
        {
            "creationRound": 3612,
            "faceValue": 2**255,
            "pricePerPixel": "1200/1",
            "recipient": "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359",
            "sender": "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb",
            "txHash": "0x" + "ab" * 32,
            "winProb": 2**256 - 1,
        },
    )
    payload = parsed(document).payload
    assert isinstance(payload, TicketRedeemedPayload)
    assert (payload.face_value, payload.win_prob) == (2**255, 2**256 - 1)
    assert (payload.recipient, payload.sender) == (
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    )


@pytest.mark.parametrize(
    ("line", "worker"),
    [
        (TRANSCODE_JOBS_PROCESSED[1], "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"),
        (JOBS_RECEIVED[0], "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"),
        (WORKER_CONNECTIONS[2], "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
        (AI_JOBS_PROCESSED[0], None),
        (ORCHESTRATOR_RESETS[0], None),
    ],
)
def test_the_worker_is_named_only_by_payloads_that_carry_an_address(line: str, worker: str | None) -> None:
    assert parsed(line).worker_address == worker


def test_the_partition_key_puts_the_region_before_the_node_type_and_splits_back() -> None:
    event = parsed(TRANSCODE_JOBS_PROCESSED[1])
    assert event.partition_key == partition_key("eu-central", "transcode") == "eu-central|transcode"
    assert split_partition_key(event.partition_key) == ("eu-central", "transcode")


@settings(max_examples=200, deadline=None)
@given(envelopes.valid_envelopes("transcode") | envelopes.valid_envelopes("ai", "eu-central"))
def test_any_valid_envelope_is_accepted_and_survives_a_round_trip(document: dict[str, Any]) -> None:
    event = parsed(document)
    assert parsed(event.to_envelope()) == event
    assert parsed(json.loads(json.dumps(event.to_envelope()))) == event
