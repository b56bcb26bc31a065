"""Job payloads follow the emitter's formulas and units; AI halves pair up except the listed ones."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

from eth_utils.address import to_checksum_address

from openpool.domain.events import (
    AIJobProcessedPayload,
    Event,
    EventType,
    JobReceivedPayload,
    TranscodeJobProcessedPayload,
)
from openpool.generator import GeneratedDataSet
from openpool.generator.pool_model import LADDERS
from tests.generator.parsed import events_by_partition

AI = "us-central/ai"


def _jobs(dataset: GeneratedDataSet) -> list[Event]:
    return [
        event
        for stream in events_by_partition(dataset).values()
        for _, event in stream
        if event.event_type is EventType.JOB_PROCESSED
    ]


def test_fees_are_price_times_units_for_every_job(faulty: GeneratedDataSet) -> None:
    jobs = _jobs(faulty)

    assert len(jobs) > 1000
    for job in jobs:
        payload = job.payload
        assert isinstance(payload, TranscodeJobProcessedPayload | AIJobProcessedPayload)
        assert payload.fees == payload.price_per_compute_unit * payload.compute_units


def test_transcode_jobs_carry_rendition_pixels_ms_and_the_emitters_real_time_ratio(faulty: GeneratedDataSet) -> None:
    ladders = {sum(r.pixels_per_frame for r in renditions) * 60 for renditions, _ in LADDERS}
    payloads = [job.payload for job in _jobs(faulty) if isinstance(job.payload, TranscodeJobProcessedPayload)]

    for payload in payloads:
        assert payload.compute_units in ladders
        assert 500 <= payload.price_per_compute_unit <= 2000
        assert payload.duration_ms == 2000
        expected = payload.duration_ms // payload.response_time_ms if payload.response_time_ms else 0
        assert payload.real_time_ratio == expected
    response_times = Counter(payload.response_time_ms == 0 for payload in payloads)
    assert 0 < response_times[True] < response_times[False] / 10
    assert {payload.real_time_ratio for payload in payloads} >= {0, 1, 2}


def test_ai_jobs_report_nanoseconds_and_some_prices_truncate_to_zero(faulty: GeneratedDataSet) -> None:
    payloads = [job.payload for job in _jobs(faulty) if isinstance(job.payload, AIJobProcessedPayload)]

    assert len({payload.pipeline for payload in payloads}) >= 5
    assert min(payload.response_time_ns for payload in payloads) > 10_000_000
    zero = [payload for payload in payloads if payload.fees == 0]
    assert 0 < len(zero) < len(payloads) / 5
    assert all(payload.price_per_compute_unit == 0 for payload in zero)
    assert all(re.fullmatch(r"[0-9a-f]{8}", payload.request_id) for payload in payloads)


def test_ai_halves_pair_up_within_seconds_in_the_same_or_next_file(faulty: GeneratedDataSet) -> None:
    stream = events_by_partition(faulty)[AI]
    keys = sorted({key for key, _ in stream})
    received: dict[str, tuple[str, Event]] = {}
    processed: dict[str, tuple[str, Event]] = {}
    for key, event in stream:
        if isinstance(event.payload, JobReceivedPayload):
            received[event.payload.request_id] = (key, event)
        elif isinstance(event.payload, AIJobProcessedPayload):
            processed[event.payload.request_id] = (key, event)

    pairs = received.keys() & processed.keys()
    assert len(pairs) > 500
    for request_id in pairs:
        (received_key, received_event), (processed_key, processed_event) = received[request_id], processed[request_id]
        assert timedelta(0) <= processed_event.dt - received_event.dt <= timedelta(seconds=2)
        assert keys.index(processed_key) - keys.index(received_key) in (0, 1)
        assert isinstance(received_event.payload, JobReceivedPayload)
        assert isinstance(processed_event.payload, AIJobProcessedPayload)
        assert received_event.payload.pipeline == processed_event.payload.pipeline
        assert received_event.payload.model_id == processed_event.payload.model_id

    alone = {(request_id, EventType.JOB_RECEIVED.value) for request_id in received.keys() - processed.keys()}
    alone |= {(request_id, EventType.JOB_PROCESSED.value) for request_id in processed.keys() - received.keys()}
    listed = faulty.manifest.unmatched_ai_halves
    assert alone == {(half.request_id, half.event_type) for half in listed}
    assert {half.cause for half in listed} == {"partner_never_emitted", "partner_in_broken_file"}


def test_the_manifest_attributes_the_fees_a_correct_correlation_finds(faulty: GeneratedDataSet) -> None:
    by_worker: Counter[str] = Counter()
    unattributed = 0
    workers_of_requests: dict[str, str] = {}
    streams = events_by_partition(faulty)
    for _, event in streams[AI]:
        if isinstance(event.payload, JobReceivedPayload):
            workers_of_requests[event.payload.request_id] = event.payload.eth_address
    for stream in streams.values():
        for _, event in stream:
            payload = event.payload
            if isinstance(payload, TranscodeJobProcessedPayload):
                by_worker[payload.eth_address] += payload.fees
            elif isinstance(payload, AIJobProcessedPayload):
                if payload.request_id in workers_of_requests:
                    by_worker[workers_of_requests[payload.request_id]] += payload.fees
                else:
                    unattributed += payload.fees

    assert dict(by_worker) == faulty.manifest.fees_by_worker
    assert unattributed == faulty.manifest.unattributed_fees > 0


def test_workers_have_distinct_eip55_addresses_of_the_manifest(faulty: GeneratedDataSet) -> None:
    addresses = {event.worker_address for stream in events_by_partition(faulty).values() for _, event in stream}
    addresses.discard(None)
    listed = {address for address, _, _ in faulty.manifest.workers}

    assert addresses <= listed
    assert len(listed) == faulty.config.workers
    for address in listed:
        assert address == to_checksum_address(address)
        assert address != address.lower()
