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
"""

from __future__ import annotations

from typing import Any
from weakref import WeakSet

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import ConsumerT


class ProcessedOnlyConsumer(aiokafka_driver.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused: WeakSet[Any] = WeakSet()

    def refuse_ack(self, message: Any) -> None:
        """`message` was not processed: it must not count towards the committed offset."""
        self._refused.add(message)

    def ack(self, message: Any) -> bool:
        if message in self._refused or (not message.tracked and self.app.topics.acks_enabled_for(message.topic)):
            # Done as far as Faust's waiting for in-flight records goes, but not committable.
            message.acked = True
            self._unacked_messages.discard(message)
            return False
        return super().ack(message)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        return None

    async def pass_expired(self, tp: Any, first: int, last: int) -> None:
        """Offsets `first..last` were deleted by retention and dead-lettered as a range: let commits pass them."""
        await super()._add_gap(tp, first, last)


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
