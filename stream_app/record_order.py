"""Checks, before an agent applies a record, that no earlier record of its partition was skipped.

See `offset_order` for why. The first record of an assignment is compared with the group's committed offset
as the broker has it (or the log start when nothing was committed), not with Faust's own bookkeeping, which
is what the Faust bugs get wrong; it is asked through the consumer's group coordinator
(`ProcessedOnlyConsumer.committed_offset`). On a gap the consumer is rewound (in the consumer's own thread, as Faust's
seeks are: a seek from the event loop's thread raced aiokafka's fetcher) to the expected offset and the records
delivered meanwhile are skipped without being acked (`consumer.ProcessedOnlyConsumer.refuse_ack`), so no
commit can pass them. Records that retention deleted before any reader got them cannot be fetched again:
their offset range is dead-lettered as `records_expired` and the reader goes on from the log start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from faust.types import TP

from openpool.dead_letters import DeadLetter, DeadLetterWriter
from openpool.metrics import OFFSET_GAPS
from stream_app.consumer import ProcessedOnlyConsumer
from stream_app.offset_order import OffsetOrder, Order, Partition

log = logging.getLogger(__name__)


class RecordOrder:
    def __init__(self, topics: Iterable[str]) -> None:
        self._order = OffsetOrder()
        self._topics = frozenset(topics)
        """The topics the agents read (an assignment also holds changelog partitions)."""

    async def admit(
        self, message: Any, consumer: ProcessedOnlyConsumer, stage: str, dead_letters: DeadLetterWriter
    ) -> bool:
        """Whether `stage` may process `message` now; a record it may not is skipped and will come again.

        Each agent (stage) has its own cursors: two agents read the attributed-jobs topic, each at its own pace.
        """
        partition = (stage, message.topic, message.partition)
        try:
            order = await self._admit(partition, message, consumer, stage, dead_letters)
            if order is Order.NEXT:
                return True
            # Order.REPEAT: processed and acked by this reader already, this copy counts for nothing.
        except Exception as error:  # an exception would crash the agent, and Faust would ack the record
            log.warning(
                "record order could not be checked; the record will be delivered again",
                extra={"stage": stage, "topic": message.topic, "partition": message.partition, "error": repr(error)},
            )
            await asyncio.sleep(1.0)
            if self._order.needs_start(partition, message.generation_id):
                with contextlib.suppress(Exception):  # if this fails too, the next record finds the gap
                    await consumer.seek_wait({message.tp: message.offset})
        consumer.refuse_ack(message)
        return False

    async def _admit(
        self,
        partition: Partition,
        message: Any,
        consumer: ProcessedOnlyConsumer,
        stage: str,
        dead_letters: DeadLetterWriter,
    ) -> Order:
        if self._order.needs_start(partition, message.generation_id):
            self._order.start(partition, message.generation_id, await self._first_offset(message.tp, consumer))
        expected = self._order.expected(partition)
        order = self._order.observe(partition, message.offset)
        if order is Order.GAP:
            log_start = (await consumer.earliest_offsets(message.tp))[message.tp]
            if expected < log_start:
                await self._dead_letter_expired(message, stage, expected, log_start, dead_letters)
                consumer.pass_expired(message.tp, expected, log_start - 1)
                self._order.skip_expired(partition, log_start)
                order = self._order.observe(partition, message.offset)
            else:
                OFFSET_GAPS.labels(stage=stage).inc()
                log.warning(
                    "records before this one were not delivered; rewinding to them",
                    extra=_where(message, stage, expected),
                )
                await consumer.seek_wait({message.tp: expected})
                self._order.rewinding(partition, time.monotonic())
        return order

    async def retry_rewinds(self, consumer: ProcessedOnlyConsumer) -> None:
        """Rewind again where a rewind has not delivered the expected record (offset_order.REWIND_RETRY_SECONDS),
        and where a reader has been quiet while records wait for it (offset_order.QUIET_SECONDS)."""
        now = time.monotonic()
        for partition, expected in self._order.rewinds_due(now):
            await self._rewind(consumer, partition, expected, "rewinding again")
        for partition, expected in self._order.quiet(now):
            _, topic, number = partition
            tp = TP(topic, number)
            if tp not in consumer.assignment():
                self._order.forget(partition)
                continue
            try:
                waiting = (await consumer.highwaters(tp))[tp] > expected
            except Exception as error:  # the broker is away: look again after the next quiet period
                log.warning("end offset unknown", extra={"topic": topic, "partition": number, "error": repr(error)})
                continue
            if waiting:
                OFFSET_GAPS.labels(stage=partition[0]).inc()
                await self._rewind(consumer, partition, expected, "no record delivered although some wait; rewinding")
        for topic, number in self._order.unstarted(now):
            await self._start_unstarted(consumer, TP(topic, number))

    def restart(self, stage: str, message: Any) -> None:
        """`message` and the records after it will be delivered again (its batch was abandoned): the reader's
        cursor starts anew from the committed offset, which rewinds the consumer to it at the next record, and
        the partition is watched as if newly assigned in case no record comes."""
        self._order.forget((stage, message.topic, message.partition))
        self._order.assigned([(message.topic, message.partition)])

    def assigned(self, partitions: Iterable[Any]) -> None:
        """The partitions assigned by a rebalance: each is watched until a record of it reaches a reader."""
        self._order.assigned((tp.topic, tp.partition) for tp in partitions if tp.topic in self._topics)

    async def _start_unstarted(self, consumer: ProcessedOnlyConsumer, tp: TP) -> None:
        if tp not in consumer.assignment():
            self._order.unassigned((tp.topic, tp.partition))
            return
        try:
            start = await self._first_offset(tp, consumer)
            waiting = (await consumer.highwaters(tp))[tp] > start
            if waiting:
                OFFSET_GAPS.labels(stage="assignment").inc()
                log.warning(
                    "no record delivered since the assignment although some wait; seeking to the committed offset",
                    extra={"topic": tp.topic, "partition": tp.partition, "offset": start},
                )
                await consumer.seek_wait({tp: start})
        except Exception as error:  # the broker is away or the partition was revoked: look again later
            log.warning(
                "unstarted partition not checked",
                extra={"topic": tp.topic, "partition": tp.partition, "error": repr(error)},
            )

    async def _rewind(self, consumer: ProcessedOnlyConsumer, partition: Partition, expected: int, why: str) -> None:
        stage, topic, number = partition
        tp = TP(topic, number)
        if tp not in consumer.assignment():
            self._order.forget(partition)
            return
        log.info(why, extra={"stage": stage, "topic": topic, "partition": number, "offset": expected})
        try:
            await consumer.seek_wait({tp: expected})
        except Exception as error:  # revoked meanwhile, or the consumer is stopping: the next rebalance restarts it
            log.warning("rewind failed", extra={"topic": topic, "partition": number, "error": repr(error)})
            return
        self._order.rewinding(partition, time.monotonic())

    async def _dead_letter_expired(
        self, message: Any, stage: str, expected: int, log_start: int, dead_letters: DeadLetterWriter
    ) -> None:
        detail = {"topic": message.topic, "partition": message.partition, "first": expected, "last": log_start - 1}
        log.critical(
            "records were deleted by retention before they were processed", extra=_where(message, stage, expected)
        )
        letter = DeadLetter(
            "records_expired",
            json.dumps(detail),
            stage,
            f"{message.topic}/{message.partition}",
            None,
            expected,
            json.dumps(detail).encode(),
            datetime.now(UTC),
        )
        await (await dead_letters.send(letter))

    async def _first_offset(self, tp: Any, consumer: ProcessedOnlyConsumer) -> int:
        committed = await consumer.committed_offset(tp)
        if committed is not None:
            return committed
        earliest = await consumer.earliest_offsets(tp)
        return int(earliest[tp])


def _where(message: Any, stage: str, expected: int) -> dict[str, Any]:
    return {
        "stage": stage,
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "expected_offset": expected,
    }
