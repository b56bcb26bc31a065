"""A batch whose checkpoint does not complete must not count as processed (stream_app/checkpoint.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from faust.types.tuples import Message

from openpool.dead_letters import DeadLetter, DeadLetterWriter
from openpool.settings import load_settings
from stream_app import checkpoint
from stream_app.app import StreamApp, create_app
from stream_app.checkpoint import Checkpointer
from stream_app.consumer import ProcessedOnlyConsumer


class _Event:
    def __init__(self, message: Message) -> None:
        self.message = message


class _Stream:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.acked: list[Any] = []

    async def ack(self, event: Any) -> bool:
        self.acked.append(event)
        return bool(self.app.consumer.ack(event.message))


class _Stage:
    name = "stream"

    def __init__(self, outputs: BaseException | None = None, failing_offset: int | None = None) -> None:
        self._outputs = outputs
        self._failing_offset = failing_offset
        self.applied: list[int] = []
        self.checkpoints = 0
        self.abandoned = 0

    def apply(self, event: Any) -> list[DeadLetter]:
        if event.message.offset == self._failing_offset:
            raise ValueError("cannot apply")
        self.applied.append(event.message.offset)
        return []

    def needs_checkpoint(self) -> bool:
        return False

    async def send_outputs(self) -> list[asyncio.Future[Any]]:
        if self._outputs is not None:
            raise self._outputs
        return []

    def write_tables(self, make_current: Any) -> None:
        pass

    async def publish_read_models(self) -> None:
        pass

    def checkpointed(self) -> None:
        self.checkpoints += 1

    def abandon(self) -> None:
        self.abandoned += 1

    def forget_clean(self) -> None:
        pass


class _Producer:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, topic: str, *, value: bytes, key: bytes, headers: Any) -> asyncio.Future[Any]:
        self.sent.append(value)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _batch(tmp_path: Path, offsets: range) -> tuple[StreamApp, list[_Event]]:
    settings = load_settings().model_copy(update={"data_dir": tmp_path})
    stream_app = create_app(settings)
    topic = settings.topics.events
    stream_app.app.topics._acking_topics.add(topic)  # as the conductor does once the agents subscribe
    stream_app.order._order.start(("stream", topic, 0), 1, offsets[0])  # the cursor expects the first record
    events = []
    for offset in offsets:
        message = Message(topic, 0, offset, 0.0, 0, [], None, b"{}", None, generation_id=1)
        message.tracked = True  # taken by the agent's stream
        events.append(_Event(message))
    return stream_app, events


def _checkpointer(stream_app: StreamApp, stage: _Stage, producer: _Producer) -> tuple[Checkpointer, _Stream]:
    stream = _Stream(stream_app.app)
    dead_letters = DeadLetterWriter(producer, stream_app.settings.topics.dead_letters)  # type: ignore[arg-type]
    return Checkpointer(stage, stream, stream_app.order, stream_app.lag, dead_letters), stream  # type: ignore[arg-type]


async def test_a_batch_cancelled_in_its_checkpoint_is_never_acked(tmp_path: Path) -> None:
    # Faust acks what an agent holds as the agent unwinds; those acks must be refused, or a commit could pass
    # records whose effects were never written.
    stream_app, events = _batch(tmp_path, range(7, 10))
    stage = _Stage(outputs=asyncio.CancelledError())
    checkpointer, stream = _checkpointer(stream_app, stage, _Producer())

    with pytest.raises(asyncio.CancelledError):
        await checkpointer.take(events)

    consumer = stream_app.app.consumer
    assert isinstance(consumer, ProcessedOnlyConsumer)
    assert stream.acked == [] and stage.abandoned == 1
    assert [consumer.ack(event.message) for event in events] == [False, False, False]
    assert list(consumer._acked[events[0].message.tp]) == []
    # The records come again from the committed offset: the reader's cursor starts anew.
    assert stream_app.order._order.needs_start(("stream", events[0].message.topic, 0), 1)


async def test_a_checkpoint_the_broker_keeps_refusing_abandons_the_batch_for_redelivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "RETRY_BACKOFF_SECONDS", (0.0, 0.0))
    stream_app, events = _batch(tmp_path, range(3, 5))
    stage = _Stage(outputs=KafkaTimeoutError())
    checkpointer, stream = _checkpointer(stream_app, stage, _Producer())

    await checkpointer.take(events)  # the agent goes on

    assert stream.acked == [] and stage.abandoned == 1 and stage.checkpoints == 0
    assert [stream_app.app.consumer.ack(event.message) for event in events] == [False, False]
    assert stream_app.order._order.needs_start(("stream", events[0].message.topic, 0), 1)


async def test_a_record_that_cannot_be_applied_is_dead_lettered_and_the_batch_goes_on(tmp_path: Path) -> None:
    stream_app, events = _batch(tmp_path, range(0, 3))
    stage = _Stage(failing_offset=1)
    producer = _Producer()
    checkpointer, stream = _checkpointer(stream_app, stage, producer)

    await checkpointer.take(events)

    assert stage.applied == [0, 2] and stage.checkpoints == 1
    assert stream.acked == events
    assert len(producer.sent) == 1 and b"processing_failed" in producer.sent[0]
