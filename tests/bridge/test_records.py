from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bridge.listing import ListedObject
from bridge.records import FileOutput, PreviousVersion, file_output, unrecognised_key_letter
from openpool.domain.event_files import SourceKey, parse_event_file
from tests.bridge.emitter_files import T0, EmitterFile, emitter_file, transcode_job

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def source_of(file: EmitterFile) -> SourceKey:
    source = SourceKey.parse(file.key)
    assert source is not None
    return source


def output_of(file: EmitterFile, body: bytes | None = None, previous: PreviousVersion | None = None) -> FileOutput:
    source = source_of(file)
    parsed = parse_event_file(source, file.body if body is None else body)
    return file_output(source, "etag1", parsed, now=NOW, previous=previous)


def test_each_event_becomes_one_record_in_file_order_with_its_partition_key_time_and_origin() -> None:
    file = emitter_file("us-central", "transcode", T0, 3, spacing=timedelta(seconds=7))
    output = output_of(file)
    assert [json.loads(r.value)["ID"] for r in output.events] == file.event_ids
    first = output.events[0]
    assert first.key == b"us-central|transcode"
    assert first.timestamp_ms == int(T0.timestamp()) * 1000
    assert output.events[2].timestamp_ms == int((T0 + timedelta(seconds=14)).timestamp()) * 1000
    assert dict(first.headers) == {
        "source_key": file.key.encode(),
        "source_version": b"etag1",
        "position": b"0",
        "event_id": file.event_ids[0].encode(),
    }
    assert [dict(r.headers)["position"] for r in output.events] == [b"0", b"1", b"2"]
    assert json.loads(first.value) == file.envelopes[0]
    assert output.dead_letters == ()


def test_bad_events_become_dead_letters_with_reason_and_position_and_the_rest_is_published() -> None:
    good = emitter_file("us-central", "transcode", T0, 2)
    no_id = transcode_job("us-central", T0)
    del no_id["ID"]
    other_region = transcode_job("eu-central", T0)
    file = EmitterFile(good.key, [good.envelopes[0], no_id, "text", other_region, good.envelopes[1]])
    output = output_of(file)
    assert [json.loads(r.value)["ID"] for r in output.events] == good.event_ids
    assert [dict(r.headers)["position"] for r in output.events] == [b"0", b"4"]
    assert [(d.reason, d.position) for d in output.dead_letters] == [
        ("missing_field:ID", 1),
        ("not_an_object", 2),
        ("partition_mismatch", 3),
    ]
    letter = output.dead_letters[0]
    assert (letter.stage, letter.source_key, letter.source_version, letter.at) == ("bridge", file.key, "etag1", NOW)
    assert json.loads(letter.raw) == no_id


def test_a_body_that_is_not_json_is_one_dead_letter_carrying_the_original_bytes() -> None:
    file = emitter_file("us-central", "transcode", T0, 1)
    body = b'[{"DT": "2025-11-05T15:00:00Z", \xff truncated'
    output = output_of(file, body)
    assert output.events == ()
    assert [(d.reason, d.position, d.raw) for d in output.dead_letters] == [("invalid_json", None, body)]


def test_a_null_file_publishes_nothing_and_refuses_nothing() -> None:
    output = output_of(emitter_file("us-central", "transcode", T0, 1), b"null")
    assert (output.events, output.dead_letters, output.skipped_events) == ((), (), 0)


def test_a_changed_file_skips_events_already_published_and_reports_the_retracted_ones() -> None:
    old = emitter_file("us-central", "transcode", T0, 4)
    added = emitter_file("us-central", "transcode", T0, 2)
    new = EmitterFile(old.key, [old.envelopes[0], old.envelopes[2], *added.envelopes])
    source = source_of(old)
    previous = PreviousVersion("etag0", parse_event_file(source, old.body))
    output = output_of(new, previous=previous)
    assert [json.loads(r.value)["ID"] for r in output.events] == added.event_ids
    assert [dict(r.headers)["position"] for r in output.events] == [b"2", b"3"]
    assert output.skipped_events == 2
    [retraction] = output.dead_letters
    assert retraction.reason == "retracted_events"
    assert json.loads(retraction.raw) == {
        "previous_version": "etag0",
        "event_ids": sorted([old.event_ids[1], old.event_ids[3]]),
    }


def test_a_changed_file_without_its_previous_version_is_published_whole() -> None:
    file = emitter_file("us-central", "transcode", T0, 3)
    output = output_of(file)
    assert len(output.events) == 3 and output.skipped_events == 0


def test_a_key_of_another_layout_is_one_dead_letter_naming_the_key() -> None:
    obj = ListedObject("us-central/transcode/readme.txt", "abc", 5, NOW)
    letter = unrecognised_key_letter(obj, NOW)
    assert (letter.reason, letter.source_key, letter.source_version, letter.position) == (
        "unrecognised_key",
        obj.key,
        "abc",
        None,
    )
