"""Stage 2, rolling performance: each attributed job once into its workload's event-time buckets.

A workload is one worker in one partition key, and for AI one (model, pipeline) too, so rankings can be
per model and pipeline as the predecessor's were.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import faust

from openpool.domain.delivery import AppliedOrigins, is_applied, mark_applied
from openpool.domain.jobs import AttributedJob
from openpool.domain.performance import RollingPerformance
from stream_app.app import StreamApp
from stream_app.forwarded_jobs import ForwardedJob


def workload_key(job: AttributedJob) -> str:
    return "|".join((job.worker_address, job.partition_key, job.model_id or "", job.pipeline or ""))


def register(stream_app: StreamApp) -> None:
    app = stream_app.app
    settings = stream_app.settings
    rolling = RollingPerformance(windows_seconds=settings.performance_windows_seconds)
    read_model_topic = app.topic(settings.topics.performance, key_serializer="raw", value_serializer="raw")
    table = stream_app.performance

    @app.agent(stream_app.jobs_topic, name=f"{settings.app_id}-performance", concurrency=1)
    async def performance(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            forwarded = ForwardedJob.from_bytes(event.value)
            job = forwarded.job
            key = workload_key(job)
            stored: dict[str, Any] | None = table.get(key)
            state = stored["rolling"] if stored is not None else rolling.initialize()
            applied = AppliedOrigins.from_json(stored["applied"]) if stored is not None else AppliedOrigins()
            latest = stored["latest"] if stored is not None else job.dt.isoformat()
            if not is_applied(applied, job.partition_key, forwarded.origin):
                state = rolling.add(state, job)
                applied = mark_applied(applied, job.partition_key, forwarded.origin)
                latest = max(datetime.fromisoformat(latest), job.dt).isoformat()
                table[key] = {"rolling": state, "applied": applied.to_json(), "latest": latest}
            model = {
                "worker_address": job.worker_address,
                "partition_key": job.partition_key,
                "node_type": job.node_type,
                "model_id": job.model_id,
                "pipeline": job.pipeline,
                "rolling": state,
                "latest": latest,
            }
            await read_model_topic.send(key=key.encode(), value=json.dumps(model, separators=(",", ":")).encode())
