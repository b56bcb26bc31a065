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
    if not await stream_app.order.admit(message, consumer, stage, dead_letters):
        return
    with PROCESS_DURATION.labels(stage=stage).time():
        await _process_or_dead_letter(process, message, dead_letters, stage)
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
    letter = DeadLetter(
        reason="processing_failed",
        detail=f"{type(failure).__name__}: {failure}"[:500],
        stage=stage,
        source_key=f"{message.topic}/{message.partition}",
        source_version=None,
        position=message.offset,
        raw=message.value or b"",
        at=datetime.now(UTC),
    )
    await (await dead_letters.send(letter))
