"""The Faust consumer, changed in one respect: a record counts as done only if an agent processed it.

While a rebalance is under way Faust's stream skips the records it has already fetched and acks them
unprocessed ("we want to ack the filtered out message", faust/streams.py), trusting that they will be
fetched again. If the partition stays on this worker, that ack can land in the new assignment's acked
offsets and let a commit pass a record no agent has applied yet; a crash before the record is fetched again
then loses it. A record an agent took is marked `tracked` by the stream; any other ack is refused here, as is
the ack of a record a reader skipped to rewind over a gap (`record_order`).

For the same reason the fetcher's "gaps" are not kept: when it sees offsets jump, Faust assumes a compacted
or transactional topic and counts the missing offsets as acked, so the next commit passes them. The topics
the agents read are neither; a jump there means records were dropped, and the agent's order check rewinds
to them (a fault-injection run lost 177 records this way after a rewind raced a fetch).

Faust hands each fetched record to the agents' streams through `wait_first(callback, suspend_flow.wait())`: four
tasks and an `asyncio.wait` per record, the largest cost per record once agents work in batches. The drain
loop here awaits the callback itself and drops a record fetched while the flow is suspended (a rebalance), as
Faust's would once the suspension wins the race; the order check rewinds to any record so dropped.

Last, a commit never passes an unacked record at the head of the acked offsets. Faust refuses to commit over a
head gap of two or more records but lets a one-record gap through (faust-streaming/faust#606): with the record
at the committed offset refused and the next ones acked, it commits past the refused one. A fault-injection
run lost 80 records that way after a broker restart. Here any head gap holds the commit until the record at
the committed offset is acked, unless the range was dead-lettered as deleted by retention (`pass_expired`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from weakref import WeakSet

import faust
from aiokafka import TopicPartition
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import ConsumerT

from openpool.metrics import COMMITS_HELD

log = logging.getLogger(__name__)


class ProcessedOnlyConsumer(aiokafka_driver.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused: WeakSet[Any] = WeakSet()
        self._held: dict[Any, tuple[int, int]] = {}

    def refuse_ack(self, message: Any) -> None:
        """`message` was not processed: it must not count towards the committed offset, and it is no longer in
        flight. Agents take records without Faust's acks (`noack_take`), so nothing else would release it, and a
        rebalance's `wait_empty` would wait for it for ever while the rewind that redelivers it waits for the
        rebalance (a fault-injection run stalled 35 records short that way)."""
        self._refused.add(message)
        message.acked = True
        self._unacked_messages.discard(message)

    def ack(self, message: Any) -> bool:
        if message in self._refused:
            return False
        if not message.tracked and self.app.topics.acks_enabled_for(message.topic):
            self.refuse_ack(message)
            return False
        return super().ack(message)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        return None

    async def _drain_messages(self, fetcher: Any) -> None:
        """Fetch records and hand each to its streams, until the consumer or the fetcher stops."""
        try:
            while not (self._stopped.is_set() or fetcher._stopped.is_set()):
                await asyncio.sleep(0)  # getmany may return at once, again and again
                delivered = 0
                async for tp, message in self.getmany(timeout=1.0):
                    read = self._read_offset.get(tp)
                    if read is not None and message.offset < read:
                        continue  # fetched before a seek back past it: the records come again in order
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    if not self.suspend_flow.is_set():
                        await self.callback(message)
                    self._read_offset[tp] = message.offset
                    delivered += 1
                    if delivered % 100 == 0:
                        await asyncio.sleep(0)  # a large fetch must not hold off timers and the web server
        except BaseException as error:
            if not isinstance(error, (*self.consumer_stopped_errors, asyncio.CancelledError)):
                raise
            if not self.transport.app.should_stop:
                raise
            log.info("consumer stopped while fetching")

    def _new_offset(self, tp: Any) -> int | None:
        acked, committed = self._acked[tp], self._committed_offset[tp]
        if acked and committed is not None:
            head = min(acked)
            if head > committed and not self._passed(tp, committed, head):
                if self._held.get(tp) != (committed, head):  # once per hold, not on every commit tick
                    self._held[tp] = (committed, head)
                    COMMITS_HELD.labels(topic=tp.topic).inc()
                    log.warning(
                        "commit held: the record at the committed offset is not processed yet",
                        extra={"topic": tp.topic, "partition": tp.partition, "committed": committed, "acked": head},
                    )
                return None
        offset: int | None = super()._new_offset(tp)
        return offset

    def _passed(self, tp: Any, first: int, end: int) -> bool:
        """Whether ranges passed with `pass_expired` cover every offset in [first, end)."""
        covered = first
        for interval in sorted(self._gap[tp].overlap(first, end), key=lambda one: one.begin):
            if interval.begin > covered:
                return False
            covered = max(covered, interval.end)
        return covered >= end

    async def committed_offset(self, tp: Any) -> int | None:
        """The group's committed offset of `tp` as the broker has it, None if nothing was committed.

        Asked through the consumer's own group coordinator, which retries while a restarted broker is still
        loading the group's offsets; an admin client's offset fetch then answers -1 for every partition, as
        if nothing had been committed.
        """
        thread: Any = self._thread
        committed = await thread.call_thread(
            thread._ensure_consumer().committed, TopicPartition(tp.topic, tp.partition)
        )
        return None if committed is None or committed < 0 else int(committed)

    def pass_expired(self, tp: Any, first: int, last: int) -> None:
        """Offsets `first..last` were deleted by retention and dead-lettered as a range: let commits pass them."""
        # Not Faust's _add_gap: it starts such a range one past the committed offset, short of the first record.
        self._gap[tp].addi(first, last + 1)


class StreamFaustApp(faust.App):
    def _new_consumer(self) -> ConsumerT:
        return ProcessedOnlyConsumer(
            self.transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=self.transport.loop,
        )
