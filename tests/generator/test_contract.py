"""Every generated file reads through the contract exactly as the manifest says it must."""

from __future__ import annotations

from collections import Counter

from openpool.generator import GeneratedDataSet
from openpool.generator.emitter import Body
from tests.generator.parsed import read_back

EVENT_REASONS = {
    "negative_fees",
    "wrong_type:computeUnits",
    "invalid_address",
    "missing_field:ethAddress",
    "missing_field:requestID",
    "unknown_event_type",
    "partition_mismatch",
}


def test_each_file_gives_the_accepted_events_and_rejection_reasons_the_manifest_lists(
    faulty: GeneratedDataSet,
) -> None:
    read = read_back(faulty)

    assert sorted(read) == [entry.key for entry in faulty.manifest.files]
    for entry in faulty.manifest.files:
        parsed = read[entry.key].parsed
        accepted = Counter(positioned.event.event_type.value for positioned in parsed.events)
        rejected = Counter(rejection.reason for rejection in parsed.rejections)
        assert (dict(accepted), dict(rejected)) == (entry.accepted, entry.rejected), entry.key


def test_the_totals_equal_what_the_contract_accepts_and_rejects(faulty: GeneratedDataSet) -> None:
    read = read_back(faulty).values()
    accepted = Counter(event.event_type.value for file in read for event in file.events)
    rejected = Counter(rejection.reason for file in read for rejection in file.parsed.rejections)

    assert accepted == faulty.manifest.accepted_by_type
    assert rejected == faulty.manifest.rejections_by_reason
    assert faulty.manifest.accepted_events == sum(accepted.values()) > 1000


def test_the_faults_cover_every_rejection_reason_and_both_broken_bodies(faulty: GeneratedDataSet) -> None:
    bodies = Counter(entry.body for entry in faulty.manifest.files)

    assert set(faulty.manifest.rejections_by_reason) == EVENT_REASONS | {"invalid_json"}
    assert bodies[Body.TRUNCATED] == faulty.manifest.rejections_by_reason["invalid_json"] >= 1
    assert bodies[Body.NULL] >= 1


def test_a_null_file_holds_no_element_and_is_not_a_rejection(faulty: GeneratedDataSet) -> None:
    read = read_back(faulty)
    nulls = [entry for entry in faulty.manifest.files if entry.body is Body.NULL]

    for entry in nulls:
        assert dict(faulty.files)[entry.key] == b"null"
        assert read[entry.key].parsed.element_count == 0
        assert entry.dropped > 0


def test_without_faults_every_element_is_accepted(clean: GeneratedDataSet) -> None:
    read = read_back(clean).values()

    assert all(not file.parsed.rejections for file in read)
    assert sum(len(file.events) for file in read) == clean.emitted_events == clean.manifest.accepted_events
    assert clean.manifest.unmatched_ai_halves == ()
