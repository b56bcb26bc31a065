from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from openpool.dead_letters import MAX_VALUE_BYTES, RAW_LIMIT_BYTES, DeadLetter, dead_letter_headers, encode_dead_letter

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def letter(raw: bytes, reason: str = "invalid_json") -> DeadLetter:
    return DeadLetter(reason, "detail", "bridge", "r/n/r-n-x.json", "etag", 3, raw, AT)


def test_a_dead_letter_carries_reason_origin_and_the_original_text() -> None:
    value = json.loads(encode_dead_letter(letter(b'{"ID": 1}')))
    assert value == {
        "reason": "invalid_json",
        "detail": "detail",
        "stage": "bridge",
        "source_key": "r/n/r-n-x.json",
        "source_version": "etag",
        "position": 3,
        "raw": '{"ID": 1}',
        "at": "2026-01-02T03:04:05Z",
    }
    assert dead_letter_headers(letter(b"")) == [("reason", b"invalid_json"), ("stage", b"bridge")]


def test_bytes_that_are_not_utf8_are_kept_as_base64() -> None:
    raw = b"\xff\xfe[1,2"
    value = json.loads(encode_dead_letter(letter(raw)))
    assert base64.b64decode(value["raw"]["base64"]) == raw


def test_a_large_body_is_truncated_with_a_flag_and_its_original_size() -> None:
    raw = b"a" * (RAW_LIMIT_BYTES + 10)
    value = json.loads(encode_dead_letter(letter(raw)))
    assert value["raw_truncated"] is True
    assert value["raw_size"] == len(raw)
    assert value["raw"] == "a" * RAW_LIMIT_BYTES


def test_text_that_grows_when_escaped_still_fits_one_record() -> None:
    raw = b"\x01" * RAW_LIMIT_BYTES
    encoded = encode_dead_letter(letter(raw))
    assert len(encoded) <= MAX_VALUE_BYTES
    assert json.loads(encoded)["raw_size"] == len(raw)


def test_a_cut_inside_a_multibyte_character_keeps_the_text_before_it() -> None:
    raw = b"a" + "é".encode() * RAW_LIMIT_BYTES  # the limit falls inside the two bytes of an é
    value = json.loads(encode_dead_letter(letter(raw)))
    assert value["raw"] == "a" + "é" * (RAW_LIMIT_BYTES // 2 - 1)
