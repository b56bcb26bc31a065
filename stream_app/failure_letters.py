"""The dead letter of a record an agent could not apply: kept with the error, for a redrive after a fix.

Faust acks and drops a record whose agent raises, so no exception may leave an agent body: the checkpoint
(`stream_app.checkpoint`) turns a record's failure into this letter and the stream keeps going.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from openpool.dead_letters import DeadLetter
from stream_app.source_position import SourcePosition


def failure_letter(message: Any, stage: str, failure: Exception) -> DeadLetter:
    """An events record is filed under its S3 file version and position, so that a redrive re-publishes it
    with the headers stage 1 reads; any other record under its topic, partition and offset."""
    detail = f"{type(failure).__name__}: {failure}"[:500]
    raw = message.value or b""
    source = SourcePosition.of_record(message.headers)
    if source is not None:
        return DeadLetter(
            "processing_failed", detail, stage, source.key, source.version, source.position, raw, datetime.now(UTC)
        )
    where = f"{message.topic}/{message.partition}"
    return DeadLetter("processing_failed", detail, stage, where, None, message.offset, raw, datetime.now(UTC))
