from __future__ import annotations

import json

from openpool.dlq.stored import UNREADABLE, LetterOffset, decode_letter
from tests.dlq.letters import SOURCE_KEY, good_job, refused_element, stored


def test_a_letter_reads_back_with_its_fields_and_place_in_the_topic() -> None:
    element = good_job()
    letter = stored(refused_element(element), offset=41, partition=0)
    assert letter.where == LetterOffset(0, 41)
    assert (letter.reason, letter.stage, letter.source_key, letter.source_version, letter.position) == (
        "wrong_type:fees",
        "bridge",
        SOURCE_KEY,
        "etag-1",
        3,
    )
    assert json.loads(letter.raw) == element
    assert (letter.raw_truncated, letter.at, letter.is_marker) == (False, "2026-01-02T03:04:05Z", False)


def test_raw_bytes_that_are_not_text_read_back_as_the_original_bytes() -> None:
    raw = b"\xff\xfe\x00[1,"
    assert stored(refused_element(raw, "invalid_json", position=None)).raw == raw


def test_a_record_that_is_not_a_dead_letter_still_shows_up_as_unreadable() -> None:
    letter = decode_letter(0, 7, b"some-key", b"\x00not json")
    assert (letter.reason, letter.source_key, letter.raw, letter.marked_letter()) == (
        UNREADABLE,
        "some-key",
        b"\x00not json",
        None,
    )
