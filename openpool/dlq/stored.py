"""A dead letter as read back from the topic: the writer's record shape plus where it sits. Pure.

The value is decoded leniently: the topic is an operator's safety net, so a record another tool wrote in a
different shape still shows up (as `unreadable_dead_letter`) instead of hiding the rest.

A redrive is recorded in the same topic as a marker (reason `redriven`, stage `dlq`) whose raw part names
the dead letter it re-published, so reading the topic alone tells which letters are done.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REDRIVEN = "redriven"
MARKER_STAGE = "dlq"
UNREADABLE = "unreadable_dead_letter"


@dataclass(frozen=True, slots=True, order=True)
class LetterOffset:
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True, slots=True)
class StoredLetter:
    where: LetterOffset
    reason: str
    detail: str
    stage: str
    source_key: str
    source_version: str | None
    position: int | None
    raw: bytes
    raw_truncated: bool
    at: str
    value: Mapping[str, Any]
    """The record value as stored, for printing it whole."""

    @property
    def is_marker(self) -> bool:
        return self.reason == REDRIVEN and self.stage == MARKER_STAGE

    def marked_letter(self) -> LetterOffset | None:
        """For a redrive marker: the dead letter it re-published."""
        if not self.is_marker:
            return None
        try:
            reference = json.loads(self.raw)["dead_letter"]
            return LetterOffset(int(reference["partition"]), int(reference["offset"]))
        except (ValueError, TypeError, KeyError):
            return None


def decode_letter(partition: int, offset: int, key: bytes | None, value: bytes | None) -> StoredLetter:
    where = LetterOffset(partition, offset)
    source_key = key.decode("utf-8", "replace") if key else ""
    try:
        fields = json.loads(value or b"")
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        return _unreadable(where, source_key, value or b"")
    position = fields.get("position")
    version = fields.get("source_version")
    return StoredLetter(
        where=where,
        reason=str(fields.get("reason") or UNREADABLE),
        detail=str(fields.get("detail") or ""),
        stage=str(fields.get("stage") or ""),
        source_key=str(fields.get("source_key") or source_key),
        source_version=version if isinstance(version, str) else None,
        position=position if isinstance(position, int) and not isinstance(position, bool) else None,
        raw=_raw_bytes(fields.get("raw")),
        raw_truncated=fields.get("raw_truncated") is True,
        at=str(fields.get("at") or ""),
        value=fields,
    )


def redriven_letters(letters: Iterable[StoredLetter]) -> frozenset[LetterOffset]:
    """The dead letters some marker says were re-published."""
    return frozenset(done for letter in letters if (done := letter.marked_letter()) is not None)


def _raw_bytes(raw: object) -> bytes:
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogatepass")
    if isinstance(raw, dict) and isinstance(raw.get("base64"), str):
        try:
            return base64.b64decode(raw["base64"], validate=True)
        except (binascii.Error, ValueError):
            return b""
    return b""


def _unreadable(where: LetterOffset, source_key: str, value: bytes) -> StoredLetter:
    return StoredLetter(
        where=where,
        reason=UNREADABLE,
        detail="record value is not a dead letter",
        stage="",
        source_key=source_key,
        source_version=None,
        position=None,
        raw=value,
        raw_truncated=False,
        at="",
        value={"raw": value.decode("utf-8", "replace")},
    )
