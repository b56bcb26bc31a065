"""Dead letters as the topic holds them: written by the one encoder, read back by the dlq decoder."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import count
from typing import Any

from openpool.dead_letters import DeadLetter, encode_dead_letter
from openpool.dlq.stored import StoredLetter, decode_letter
from tests.bridge.emitter_files import T0, emitter_key, transcode_job

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SOURCE_KEY = emitter_key("us-central", "transcode", T0)
_offsets = count()


def stored(letter: DeadLetter, offset: int | None = None, partition: int = 0) -> StoredLetter:
    value = encode_dead_letter(letter)
    return decode_letter(partition, next(_offsets) if offset is None else offset, letter.source_key.encode(), value)


def refused_element(
    element: Any,
    reason: str = "wrong_type:fees",
    *,
    stage: str = "bridge",
    position: int | None = 3,
    source_key: str = SOURCE_KEY,
    version: str | None = "etag-1",
) -> DeadLetter:
    raw = element if isinstance(element, bytes) else json.dumps(element, sort_keys=True).encode()
    return DeadLetter(reason, "an older contract refused it", stage, source_key, version, position, raw, AT)


def processing_failed(raw: bytes, source_key: str, offset: int, stage: str = "fees") -> DeadLetter:
    return DeadLetter("processing_failed", "KeyError: 'x'", stage, source_key, None, offset, raw, AT)


def good_job(**changes: Any) -> dict[str, Any]:
    return transcode_job("us-central", T0) | changes
