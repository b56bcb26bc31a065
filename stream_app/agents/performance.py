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

    # The read model is coalesced: a bucket's sketches (kilobytes) are published once a second, not per job.
    # Each bucket record keeps its read model, so the periodic republish restores anything a crash lost.
    pending: dict[str, dict[str, Any] | None] = {}

    async def flush_pending() -> None:
        batch = dict(pending)
        pending.clear()
        for key, model in batch.items():
            value = None if model is None else json.dumps(model, separators=(",", ":")).encode()
            await read_model_topic.send(key=key.encode(), value=value)

    @app.timer(1.0)
    async def publish_touched_buckets() -> None:
        await flush_pending()

    @app.timer(settings.export_interval_seconds)
    async def republish_local_buckets() -> None:
        for key, record in list(table.items()):
            if "#" in key and "model" in record:
                pending.setdefault(key, {**record["model"], "stats": record["stats"]})
        await flush_pending()

    @app.on_before_shutdown.connect
    async def publish_before_shutdown(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await flush_pending()

    def read_model(job: AttributedJob, window: str, start: int, latest: str) -> dict[str, Any]:
        return {
            "worker_address": job.worker_address,
            "partition_key": job.partition_key,
            "node_type": job.node_type,
            "model_id": job.model_id,
            "pipeline": job.pipeline,
            "window": int(window),
            "start": start,
            "latest": latest,
        }

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
                pending[key] = None
            if placement.start is not None:
                key = bucket_key(workload, window, placement.start)
                # Each bucket guards itself: a crash may persist it without the index, or the reverse.
                bucket = table.get(key) or {"stats": rolling.aggregate.initialize(), "applied": {}}
                bucket_applied = AppliedOrigins.from_json(bucket["applied"])
                model = read_model(job, window, placement.start, latest)
                if not is_applied(bucket_applied, job.partition_key, forwarded.origin):
                    bucket = {
                        "stats": rolling.aggregate.add(bucket["stats"], job),
                        "applied": mark_applied(bucket_applied, job.partition_key, forwarded.origin).to_json(),
                        "model": model,
                    }
                    table[key] = bucket
                pending[key] = {**model, "stats": bucket["stats"]}
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
                partial(handle, message.value), message, dead_letters, "performance", stream_app
            )
