"""What an agent does with each record: check nothing before it was skipped, process it, and if it cannot
be processed, retry, then dead-letter it with the reason.

Faust acks and drops a record whose agent raises, so no exception may leave an agent body. A transient
failure (a broker or metadata hiccup) passes on retry — every table value guards itself, so re-running a
half-applied record is safe. A record that still fails is kept in the dead-letter topic with the error,
where an operator can re-publish it after a fix; the stream keeps going.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

from openpool.dead_letters import DeadLetter, DeadLetterWriter
from openpool.metrics import PROCESS_DURATION, RECORDS_PROCESSED
from stream_app.app import StreamApp
from stream_app.consumer import ProcessedOnlyConsumer
from stream_app.source_position import SourcePosition

log = logging.getLogger(__name__)

ATTEMPTS = 5


async def process_or_dead_letter(
    process: Callable[[], Awaitable[None]],
    message: Any,
    dead_letters: DeadLetterWriter,
    stage: str,
    stream_app: StreamApp,
) -> None:
    consumer = cast(ProcessedOnlyConsumer, stream_app.app.consumer)
    try:
        if not await stream_app.order.admit(message, consumer, stage, dead_letters):
            return
        with PROCESS_DURATION.labels(stage=stage).time():
            await _process_or_dead_letter(process, message, dead_letters, stage)
    except BaseException:  # cancelled mid-record (shutdown, agent restart): Faust acks it as the agent unwinds
        consumer.refuse_ack(message)
        raise
    RECORDS_PROCESSED.labels(stage=stage).inc()
    stream_app.lag.note_processed(message)


async def _process_or_dead_letter(
    process: Callable[[], Awaitable[None]], message: Any, dead_letters: DeadLetterWriter, stage: str
) -> None:
    where = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
    for attempt in range(1, ATTEMPTS + 1):
        try:
            await process()
            return
        except Exception as error:
            failure = error
            log.warning("record failed, retrying", extra={**where, "attempt": attempt, "error": repr(error)[:300]})
            await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
    log.error("record dead-lettered after retries", extra={**where, "error": repr(failure)[:300]})
    await (await dead_letters.send(failure_letter(message, stage, failure)))


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
