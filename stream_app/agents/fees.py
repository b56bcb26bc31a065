"""Stage 2, fees: apply each attributed job once to its worker's earnings and publish the read model."""

from __future__ import annotations

import json
import logging
from functools import partial

import faust

from openpool.dead_letters import DeadLetterWriter
from openpool.domain.commission import CommissionRate
from stream_app.agents.failures import process_or_dead_letter
from stream_app.app import StreamApp
from stream_app.forwarded_jobs import ForwardedJob
from stream_app.tables.earnings_value import WorkerEarnings

log = logging.getLogger(__name__)


def register(stream_app: StreamApp, dead_letters: DeadLetterWriter) -> None:
    app = stream_app.app
    settings = stream_app.settings
    rate = CommissionRate.from_decimal(settings.pool_commission_rate)
    earnings_topic = app.topic(settings.topics.earnings, key_serializer="raw", value_serializer="raw")
    table = stream_app.earnings

    async def handle(value: bytes) -> None:
        forwarded = ForwardedJob.from_bytes(value)
        address = forwarded.job.worker_address
        stored = table.get(address)
        current = WorkerEarnings.from_json(stored) if stored is not None else WorkerEarnings(address)
        if not current.has_applied(forwarded):
            current = current.apply(forwarded, rate)
            table[address] = current.to_json()
        # Republished even for a duplicate: a crash may have lost the previous publication.
        await earnings_topic.send(
            key=address.encode(), value=json.dumps(current.read_model(), separators=(",", ":")).encode()
        )

    @app.agent(stream_app.jobs_topic, name=f"{settings.app_id}-fees", concurrency=1)
    async def fees(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            await process_or_dead_letter(partial(handle, message.value), message, dead_letters, "fees", stream_app)
