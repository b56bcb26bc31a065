"""A record whose agent is cancelled mid-way must not count as processed (stream_app/agents/failures.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from faust.types.tuples import Message

from openpool.dead_letters import DeadLetterWriter
from openpool.settings import load_settings
from stream_app.agents.failures import process_or_dead_letter
from stream_app.app import create_app
from stream_app.consumer import ProcessedOnlyConsumer


async def test_a_record_cancelled_mid_processing_is_never_acked(tmp_path: Path) -> None:
    # Faust acks the record an agent holds when the agent unwinds; the ack must be refused, or a commit can
    # pass a record whose effects were never written.
    settings = load_settings().model_copy(update={"data_dir": tmp_path})
    stream_app = create_app(settings)
    consumer = stream_app.app.consumer
    assert isinstance(consumer, ProcessedOnlyConsumer)
    topic = settings.topics.events
    message = Message(topic, 0, 7, 0.0, 0, [], None, b"{}", None, generation_id=1)
    message.tracked = True  # taken by the agent's stream
    stream_app.app.topics._acking_topics.add(topic)  # as the conductor does once the agents subscribe
    stream_app.order._order.start(("stream", topic, 0), 1, 7)  # the cursor expects this record

    async def cancelled() -> None:
        raise asyncio.CancelledError

    never_started = DeadLetterWriter(AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers), "unused")
    with pytest.raises(asyncio.CancelledError):
        await process_or_dead_letter(cancelled, message, never_started, "stream", stream_app)

    assert consumer.ack(message) is False
    assert list(consumer._acked[message.tp]) == []
