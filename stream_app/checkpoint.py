"""How an agent takes its records: in batches, each ended by a checkpoint.

A batch is up to BATCH_RECORDS records, or what arrived within BATCH_SECONDS. Each record is checked for
order (`record_order`) and applied in memory by the stage (`Stage.apply`: no await, no store write); a record
that cannot be applied is dead-lettered with the reason and the batch goes on. The checkpoint then, in this
order (docs/design.md, "Batches"):
1. sends the batch's forwarded jobs and dead letters and awaits all their acknowledgements at once;
2. writes each table key the batch changed, once (`WriteBack`), with an event of its partition current, since
   Faust sends a table write to the changelog partition of the current event (faust#497);
3. publishes each changed read model once;
4. acks the batch's records. Faust flushes its producer before it commits offsets, so a committed offset
   never passes a record whose effects are not in Kafka.
A failed checkpoint is tried again from step 1 (each step is idempotent: stage 2 drops re-forwarded jobs, and
a table key is written with its final value). A batch that ends any other way (cancelled by a shutdown or an
agent restart) is abandoned: its records' acks are refused, the stage forgets its unwritten values, and their
partitions' order cursors start again from the committed offset, so the records are delivered again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Sequence
from typing import Any, Protocol, cast

import faust
from faust.streams import _current_event

from openpool.dead_letters import DeadLetter, DeadLetterWriter
from openpool.metrics import BATCH_DURATION, BATCH_RECORDS_TAKEN, CHECKPOINT_RETRIES, RECORDS_PROCESSED
from stream_app.consumer import ProcessedOnlyConsumer
from stream_app.failure_letters import failure_letter
from stream_app.lag import LagTracker
from stream_app.record_order import RecordOrder

log = logging.getLogger(__name__)

BATCH_RECORDS = 2_000
BATCH_SECONDS = 0.25
RETRY_BACKOFF_SECONDS = (0.1, 0.2, 0.5, 1.0, 2.0)


class Stage(Protocol):
    """One agent's work: what a record changes, and how its changes are checkpointed."""

    name: str

    def apply(self, event: Any) -> list[DeadLetter]:
        """Apply one record (a Faust event) to the stage's values in memory; return the dead letters it
        produced. Raise to have it dead-lettered as `processing_failed` (nothing of it may be applied then)."""
        ...

    def needs_checkpoint(self) -> bool:
        """Whether the batch must be checkpointed before its next record (its writes grow too large)."""
        ...

    async def send_outputs(self) -> list[asyncio.Future[Any]]:
        """Send the batch's forwarded records; return their acknowledgements."""
        ...

    def write_tables(self, make_current: Any) -> None:
        """Write every changed table key; `make_current(event)` makes an event of the key's partition current."""
        ...

    async def publish_read_models(self) -> None: ...

    def checkpointed(self) -> None:
        """The checkpoint is complete: the batch's outputs and values are forgotten or kept as clean."""
        ...

    def abandon(self) -> None:
        """The batch will be delivered again: forget what it applied."""
        ...

    def forget_clean(self) -> None:
        """A rebalance: forget the values read so far, which another worker may change from now on."""
        ...


def make_current(event: Any) -> None:
    """What a stream does for each record it yields; table writes need it (faust#497)."""
    _current_event.set(None if event is None else weakref.ref(event))


class Checkpointer:
    """Runs an agent's stream through its stage, batch by batch."""

    def __init__(
        self,
        stage: Stage,
        stream: faust.StreamT[Any],
        order: RecordOrder,
        lag: LagTracker,
        dead_letters: DeadLetterWriter,
    ) -> None:
        self._stage = stage
        self._stream = stream
        self._order = order
        self._lag = lag
        self._dead_letters = dead_letters

    async def run(self, batch_records: int = BATCH_RECORDS, batch_seconds: float = BATCH_SECONDS) -> None:
        stream = cast(Any, self._stream)  # noack_take is on the concrete Stream only
        async for events in stream.noack_take(batch_records, within=batch_seconds):
            await self.take(cast(Sequence[Any], events))

    async def take(self, events: Sequence[Any]) -> None:
        consumer = cast(ProcessedOnlyConsumer, self._stream.app.consumer)
        stage = self._stage
        began = time.perf_counter()
        pending: list[Any] = []
        letters: list[DeadLetter] = []
        settled = 0
        """Events before this index are acked, or refused by the order check."""
        try:
            for index, event in enumerate(events):
                message = event.message
                if await self._order.admit(message, consumer, stage.name, self._dead_letters):
                    make_current(event)
                    letters.extend(self._apply(event))
                    pending.append(event)
                if stage.needs_checkpoint() or index == len(events) - 1:
                    await self._checkpoint(pending, letters)
                    pending, letters, settled = [], [], index + 1
        except CheckpointFailed as failure:
            log.error("batch abandoned; its records will be delivered again", extra={"error": str(failure)})
            self._abandon(consumer, events[settled:])
        except BaseException:  # cancelled (shutdown, agent restart): nothing unwritten may count as processed
            self._abandon(consumer, events[settled:])
            raise
        finally:
            make_current(None)
        BATCH_DURATION.labels(stage=stage.name).observe(time.perf_counter() - began)
        BATCH_RECORDS_TAKEN.labels(stage=stage.name).observe(len(events))

    def _apply(self, event: Any) -> list[DeadLetter]:
        message = event.message
        try:
            return self._stage.apply(event)
        except Exception as error:
            log.error(
                "record dead-lettered: it could not be applied",
                extra={**_where(message), "stage": self._stage.name, "error": repr(error)[:300]},
            )
            return [failure_letter(message, self._stage.name, error)]

    def _abandon(self, consumer: ProcessedOnlyConsumer, events: Sequence[Any]) -> None:
        self._stage.abandon()
        for event in events:
            consumer.refuse_ack(event.message)
            self._order.restart(self._stage.name, event.message)

    async def _checkpoint(self, events: list[Any], letters: list[DeadLetter]) -> None:
        if not events:
            return
        stage = self._stage
        for attempt in range(len(RETRY_BACKOFF_SECONDS) + 1):
            try:
                acks = await stage.send_outputs()
                acks += [await self._dead_letters.send(letter) for letter in letters]
                await asyncio.gather(*acks)
                stage.write_tables(make_current)
                await stage.publish_read_models()
                break
            except Exception as error:
                CHECKPOINT_RETRIES.labels(stage=stage.name).inc()
                backoff = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS) - 1)]
                log.warning(
                    "checkpoint failed, trying again",
                    extra={"stage": stage.name, "attempt": attempt + 1, "error": repr(error)[:300]},
                )
                await asyncio.sleep(backoff)
        else:
            raise CheckpointFailed(f"{stage.name}: the checkpoint failed {len(RETRY_BACKOFF_SECONDS) + 1} times")
        stage.checkpointed()
        for event in events:
            await self._stream.ack(event)
            self._lag.note_processed(event.message)
        RECORDS_PROCESSED.labels(stage=stage.name).inc(len(events))


class CheckpointFailed(RuntimeError):
    """The broker refused a batch's outputs or writes repeatedly: the batch is abandoned and delivered again."""


def _where(message: Any) -> dict[str, Any]:
    return {"topic": message.topic, "partition": message.partition, "offset": message.offset}
