from __future__ import annotations

import json
from types import SimpleNamespace

from bridge.records import event_record
from openpool.dlq.redrive import (
    NotRedrivable,
    OutgoingRecord,
    Republish,
    StillFailing,
    plan_redrive,
    redrive_marker,
    redrive_one,
)
from openpool.dlq.selection import Selection
from openpool.dlq.stored import LetterOffset
from openpool.domain.event_files import SourceKey, parse_event_file
from openpool.settings import TopicNames
from stream_app.failure_letters import failure_letter
from tests.bridge.emitter_files import transcode_job
from tests.dlq.letters import AT, SOURCE_KEY, good_job, processing_failed, refused_element, stored

TOPICS = TopicNames("app")


def test_an_element_the_current_contract_accepts_goes_to_the_events_topic_as_the_bridge_publishes_it() -> None:
    element = good_job()
    outcome = redrive_one(stored(refused_element(element, position=3)), TOPICS)

    source = SourceKey.parse(SOURCE_KEY)
    assert source is not None
    # What the bridge publishes for the same element at the same position of the same file version.
    parsed = parse_event_file(source, json.dumps([{}, {}, {}, element]).encode())
    expected = event_record(SOURCE_KEY, "etag-1", parsed.events[0])
    assert isinstance(outcome, Republish)
    assert outcome.records == (
        OutgoingRecord("app.events", None, expected.key, expected.value, expected.headers, expected.timestamp_ms),
    )
    assert dict(expected.headers)["position"] == b"3"


def test_an_element_that_still_fails_stays_with_the_reason_the_current_contract_gives() -> None:
    outcome = redrive_one(stored(refused_element(good_job(EventType="job-failed"))), TOPICS)
    assert isinstance(outcome, StillFailing)
    assert outcome.reason == "unknown_event_type"
    broken = redrive_one(stored(refused_element(b'{"ID": ', "invalid_json")), TOPICS)
    assert isinstance(broken, StillFailing)
    assert broken.reason == "invalid_json"


def test_an_element_is_judged_against_the_partition_of_its_source_key() -> None:
    elsewhere = transcode_job("eu-central", AT)
    outcome = redrive_one(stored(refused_element(elsewhere, "partition_mismatch")), TOPICS)
    assert isinstance(outcome, StillFailing)
    assert outcome.reason == "partition_mismatch"


def test_a_truncated_raw_is_not_redriven_since_the_element_is_not_all_there() -> None:
    letter = stored(refused_element(b"[" + b"1," * 600_000 + b"1]", "invalid_json", position=None))
    assert letter.raw_truncated
    assert isinstance(redrive_one(letter, TOPICS), NotRedrivable)


def test_a_whole_file_refusal_is_redriven_only_when_every_element_now_parses() -> None:
    first, second = good_job(), good_job()
    whole = stored(refused_element(json.dumps([first, second]).encode(), "invalid_json", position=None))
    outcome = redrive_one(whole, TOPICS)
    assert isinstance(outcome, Republish)
    assert [dict(r.headers)["position"] for r in outcome.records] == [b"0", b"1"]
    assert [json.loads(r.value)["ID"] for r in outcome.records] == [first["ID"], second["ID"]]

    half = stored(refused_element(json.dumps([first, 7]).encode(), "invalid_json", position=None))
    still = redrive_one(half, TOPICS)
    assert isinstance(still, StillFailing)
    assert (still.reason, still.detail.startswith("element 1")) == ("not_an_object", True)


def test_outcomes_that_are_not_refused_records_are_not_redriven() -> None:
    for reason in ("retracted_events", "unrecognised_key", "unattributed_fees"):
        letter = stored(
            refused_element(good_job(), reason, stage="stream" if reason == "unattributed_fees" else "bridge")
        )
        assert isinstance(redrive_one(letter, TOPICS), NotRedrivable), reason


def test_a_processing_failure_goes_back_as_it_was_to_the_topic_and_partition_it_came_from() -> None:
    raw = b'{"origin":[4,0],"anything":"as it was"}'
    outcome = redrive_one(stored(processing_failed(raw, "app.attributed-jobs/2", 17)), TOPICS)
    assert isinstance(outcome, Republish)
    assert outcome.records == (OutgoingRecord("app.attributed-jobs", 2, None, raw),)


def test_a_processing_failure_naming_a_topic_outside_the_apps_agent_inputs_is_refused() -> None:
    for source in ("other.attributed-jobs/2", "app.payout-wal/0", "app.events/x"):
        letter = stored(processing_failed(b"{}", source, 1, stage="stream"))
        assert isinstance(redrive_one(letter, TOPICS), NotRedrivable), source


def test_a_letter_a_marker_names_is_not_redriven_a_second_time() -> None:
    letter = stored(refused_element(good_job()), offset=5)
    other = stored(refused_element(good_job()), offset=6)
    first = plan_redrive([letter, other], Selection(reason="wrong_type:fees"), TOPICS)
    assert [item.letter for item in first.republish] == [letter, other]

    marker = stored(redrive_marker(first.republish[0], [("app.events", 1, 99)], AT), offset=7)
    assert marker.marked_letter() == LetterOffset(0, 5)
    assert (marker.source_key, marker.position) == (letter.source_key, letter.position)
    second = plan_redrive([letter, other, marker], Selection(reason="wrong_type:fees"), TOPICS)
    assert [item.letter for item in second.republish] == [other]
    assert second.already_redriven == (letter,)


def test_an_events_record_stage_one_failed_on_goes_back_with_the_headers_stage_one_reads() -> None:
    element = good_job()
    source = SourceKey.parse(SOURCE_KEY)
    assert source is not None
    published = event_record(
        SOURCE_KEY, "etag-1", parse_event_file(source, json.dumps([{}, {}, element]).encode()).events[0]
    )
    message = SimpleNamespace(
        topic="app.events", partition=1, offset=40, value=published.value, headers=published.headers
    )
    letter = failure_letter(message, "stream", KeyError("x"))

    outcome = redrive_one(stored(letter), TOPICS)

    assert isinstance(outcome, Republish)
    (record,) = outcome.records
    assert (record.topic, record.key, record.headers) == ("app.events", published.key, published.headers)


def test_a_record_without_source_headers_is_filed_under_its_topic_partition_and_offset() -> None:
    message = SimpleNamespace(topic="app.attributed-jobs", partition=2, offset=7, value=b"x", headers=[])
    letter = failure_letter(message, "fees", ValueError("bad"))
    assert (letter.source_key, letter.source_version, letter.position) == ("app.attributed-jobs/2", None, 7)
    outcome = redrive_one(stored(letter), TOPICS)
    assert isinstance(outcome, Republish)
    assert outcome.records == (OutgoingRecord("app.attributed-jobs", 2, None, b"x"),)
