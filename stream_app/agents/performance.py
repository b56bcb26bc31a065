"""Stage 2, rolling performance: each attributed job once into its workload's event-time buckets.

A workload is one worker in one partition key, and for AI one (model, pipeline) too, so rankings can be
per model and pipeline as the predecessor's were. Each bucket is its own table record and read-model
record: a job rewrites one small bucket per window, not the workload's whole day of sketches.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Any

import faust

from openpool.dead_letters import DeadLetterWriter
from openpool.domain.delivery import AppliedOrigins, is_applied, mark_applied
from openpool.domain.jobs import AttributedJob
from openpool.domain.performance import RollingPerformance
from stream_app.agents.failures import process_or_dead_letter
from stream_app.app import StreamApp
from stream_app.forwarded_jobs import ForwardedJob


def workload_key(job: AttributedJob) -> str:
    return "|".join((job.worker_address, job.partition_key, job.model_id or "", job.pipeline or ""))


def bucket_key(workload: str, window: str, start: int) -> str:
    return f"{workload}#{window}#{start}"


def register(stream_app: StreamApp, dead_letters: DeadLetterWriter) -> None:
    app = stream_app.app
    settings = stream_app.settings
    rolling = RollingPerformance(windows_seconds=settings.performance_windows_seconds)
    read_model_topic = app.topic(settings.topics.performance, key_serializer="raw", value_serializer="raw")
    table = stream_app.performance

    async def publish(key: str, job: AttributedJob, window: str, start: int, stats: Any, latest: str) -> None:
        model = {
            "worker_address": job.worker_address,
            "partition_key": job.partition_key,
            "node_type": job.node_type,
            "model_id": job.model_id,
            "pipeline": job.pipeline,
            "window": int(window),
            "start": start,
            "stats": stats,
            "latest": latest,
        }
        await read_model_topic.send(key=key.encode(), value=json.dumps(model, separators=(",", ":")).encode())

    async def handle(value: bytes) -> None:
        forwarded = ForwardedJob.from_bytes(value)
        job = forwarded.job
        workload = workload_key(job)
        index: dict[str, Any] = table.get(workload) or {
            "buckets": {},
            "applied": {},
            "latest": job.dt.isoformat(),
        }
        applied = AppliedOrigins.from_json(index["applied"])
        if is_applied(applied, job.partition_key, forwarded.origin):
            return
        latest = max(datetime.fromisoformat(index["latest"]), job.dt).isoformat()
        buckets: dict[str, list[int]] = {window: list(starts) for window, starts in index["buckets"].items()}
        for window, placement in rolling.placement(buckets, job).items():
            kept = [start for start in buckets.get(window, []) if start not in placement.expired]
            for start in placement.expired:
                key = bucket_key(workload, window, start)
                table.pop(key, None)
                await read_model_topic.send(key=key.encode(), value=None)
            if placement.start is not None:
                key = bucket_key(workload, window, placement.start)
                # Each bucket guards itself: a crash may persist it without the index, or the reverse.
                bucket = table.get(key) or {"stats": rolling.aggregate.initialize(), "applied": {}}
                bucket_applied = AppliedOrigins.from_json(bucket["applied"])
                if not is_applied(bucket_applied, job.partition_key, forwarded.origin):
                    bucket = {
                        "stats": rolling.aggregate.add(bucket["stats"], job),
                        "applied": mark_applied(bucket_applied, job.partition_key, forwarded.origin).to_json(),
                    }
                    table[key] = bucket
                await publish(key, job, window, placement.start, bucket["stats"], latest)
                if placement.start not in kept:
                    kept.append(placement.start)
            buckets[window] = sorted(kept)
        table[workload] = {
            "buckets": buckets,
            "applied": mark_applied(applied, job.partition_key, forwarded.origin).to_json(),
            "latest": latest,
        }

    @app.agent(stream_app.jobs_topic, name=f"{settings.app_id}-performance", concurrency=1)
    async def performance(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            await process_or_dead_letter(
                partial(handle, message.value), message, dead_letters, "performance", stream_app.lag
            )
