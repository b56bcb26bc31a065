"""The one dead-letter record shape and the one writer; every stage that refuses input goes through it.

Key = the source key (S3 key of the file the input came from), so an operator finds every refusal of a
file together. The value keeps the original bytes so nothing is lost: UTF-8 text as is, anything else as
base64. Bodies above RAW_LIMIT_BYTES are truncated (with a flag and the original size); the source key and
version let an operator fetch the whole file again.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from openpool.metrics import DEAD_LETTERS

RAW_LIMIT_BYTES = 512 * 1024
# Below the broker's default message.max.bytes (1 MiB) with room for the envelope and headers.
MAX_VALUE_BYTES = 900_000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    detail: str
    stage: str
    source_key: str
    source_version: str | None
    position: int | None
    raw: bytes
    at: datetime


def encode_dead_letter(letter: DeadLetter) -> bytes:
    """The record value. JSON escaping can make text grow, so the raw part shrinks until the value fits."""
    limit = RAW_LIMIT_BYTES
    while True:
        # Refused text may hold lone surrogates, which UTF-8 cannot encode; inside a JSON string the
        # backslash escape is exactly JSON's own `\ud800`.
        text = json.dumps(_value(letter, limit), separators=(",", ":"), ensure_ascii=False)
        value = text.encode("utf-8", "backslashreplace")
        if len(value) <= MAX_VALUE_BYTES or limit == 0:
            return value
        limit //= 2


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    return [("reason", letter.reason.encode()), ("stage", letter.stage.encode())]


def _value(letter: DeadLetter, limit: int) -> dict[str, Any]:
    raw = letter.raw[:limit]
    truncated = len(raw) < len(letter.raw)
    value: dict[str, Any] = {
        "reason": letter.reason,
        "detail": letter.detail,
        "stage": letter.stage,
        "source_key": letter.source_key,
        "source_version": letter.source_version,
        "position": letter.position,
        "raw": _raw_field(raw, truncated),
        "at": letter.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    if truncated:
        value["raw_truncated"] = True
        value["raw_size"] = len(letter.raw)
    return value


def _raw_field(raw: bytes, truncated: bool) -> str | dict[str, str]:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if truncated:
        # The cut may have split the last multi-byte character: the text before it is still text.
        for cut in (1, 2, 3):
            try:
                return raw[:-cut].decode("utf-8")
            except UnicodeDecodeError:
                continue
    return {"base64": base64.b64encode(raw).decode("ascii")}


class DeadLetterWriter:
    """Sends dead letters on the producer it is given; the caller awaits the returned acknowledgement."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def send(self, letter: DeadLetter) -> asyncio.Future[Any]:
        acked: asyncio.Future[Any] = await self._producer.send(
            self._topic,
            value=encode_dead_letter(letter),
            key=letter.source_key.encode(),
            headers=dead_letter_headers(letter),
        )
        acked.add_done_callback(lambda done: _count(done, letter))
        return acked


def _count(done: asyncio.Future[Any], letter: DeadLetter) -> None:
    if not done.cancelled() and done.exception() is None:
        DEAD_LETTERS.labels(stage=letter.stage, reason=letter.reason).inc()
