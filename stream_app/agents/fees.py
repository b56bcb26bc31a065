"""Stage 2, fees: apply each attributed job once to its worker's earnings and publish the read model."""

from __future__ import annotations

import json
import logging

import faust

from openpool.domain.commission import CommissionRate
from stream_app.app import StreamApp
from stream_app.forwarded_jobs import ForwardedJob
from stream_app.tables.earnings_value import WorkerEarnings

log = logging.getLogger(__name__)


def register(stream_app: StreamApp) -> None:
    app = stream_app.app
    settings = stream_app.settings
    rate = CommissionRate.from_decimal(settings.pool_commission_rate)
    earnings_topic = app.topic(settings.topics.earnings, key_serializer="raw", value_serializer="raw")
    table = stream_app.earnings

    @app.agent(stream_app.jobs_topic, name=f"{settings.app_id}-fees", concurrency=1)
    async def fees(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            forwarded = ForwardedJob.from_bytes(event.value)
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
