"""Stage 2: each attributed job once into its worker's earnings and rolling performance, one decode per job.

Fees: the job's fees split by the pool's commission into the worker's earnings entry of the job's partition
key; the earnings read model is republished once per batch for every worker the batch touched, duplicates
included (a crash may have lost the previous publication).

Performance: a workload is one worker in one partition key, and for AI one (model, pipeline) too, so rankings
can be per model and pipeline as the predecessor's were. Each event-time bucket is its own table record and
read-model record: a job rewrites one small bucket per window, not the workload's whole day of sketches.

Every value carries the last origin it applied per source partition key (docs/design.md, rule 3), so a value
a crash did not persist takes its jobs again and one it did persist ignores them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import faust
import msgspec

from openpool.dead_letters import DeadLetter, DeadLetterWriter
from openpool.domain.commission import CommissionRate
from openpool.domain.delivery import AppliedOrigins, is_applied, mark_applied
from openpool.domain.jobs import AttributedJob
from openpool.domain.performance import JobStats, RollingPerformance
from stream_app.agents.partition_events import Send
from stream_app.app import StreamApp
from stream_app.checkpoint import Checkpointer
from stream_app.forwarded_jobs import ForwardedJob
from stream_app.tables.earnings_value import WorkerEarnings
from stream_app.tables.write_back import WriteBack

ReadModel = dict[str, Any]


def workload_key(job: AttributedJob) -> str:
    return "|".join((job.worker_address, job.partition_key, job.model_id or "", job.pipeline or ""))


def bucket_key(workload: str, window: str, start: int) -> str:
    return f"{workload}#{window}#{start}"


@dataclass(frozen=True, slots=True)
class WorkloadIndex:
    """A workload's row: the bucket starts it holds per window, the last origin applied, its newest job."""

    buckets: Mapping[str, tuple[int, ...]]
    applied: AppliedOrigins
    latest: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "buckets": {window: list(starts) for window, starts in self.buckets.items()},
            "applied": self.applied.to_json(),
            "latest": self.latest.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkloadIndex:
        return cls(
            {window: tuple(starts) for window, starts in data["buckets"].items()},
            AppliedOrigins.from_json(data["applied"]),
            datetime.fromisoformat(data["latest"]),
        )


@dataclass(frozen=True, slots=True)
class PerformanceBucket:
    """One event-time bucket of a workload in one window: its jobs' stats, guarded by the last origin applied."""

    stats: JobStats
    applied: AppliedOrigins
    model: ReadModel | None

    def to_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {"stats": self.stats, "applied": self.applied.to_json()}
        if self.model is not None:
            stored["model"] = self.model
        return stored

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PerformanceBucket:
        return cls(data["stats"], AppliedOrigins.from_json(data["applied"]), data.get("model"))


PerformanceRow = WorkloadIndex | PerformanceBucket


def _encode(row: WorkerEarnings | PerformanceRow) -> Any:
    return row.to_json()


class WorkerLedger:
    """Stage 2's work on one batch."""

    name = "jobs"

    def __init__(self, stream_app: StreamApp, send: Send) -> None:
        settings = stream_app.settings
        self._send = send
        self._earnings_topic = settings.topics.earnings
        self._rate = CommissionRate.from_decimal(settings.pool_commission_rate)
        self._rolling = RollingPerformance(windows_seconds=settings.performance_windows_seconds)
        self._earnings: WriteBack[WorkerEarnings] = WriteBack(stream_app.earnings, WorkerEarnings.from_json, _encode)
        self._performance: WriteBack[PerformanceRow] = WriteBack(
            stream_app.performance, WorkloadIndex.from_json, _encode
        )
        self._earnings_models: dict[str, WorkerEarnings] = {}
        self.bucket_models: dict[str, ReadModel | None] = {}
        """Performance buckets to publish (None: deleted), coalesced over a second: a bucket's sketches are
        kilobytes, too much to publish per batch. Each bucket record keeps its read model, so the periodic
        republish restores anything a crash lost."""

    def apply(self, event: Any) -> list[DeadLetter]:
        forwarded = ForwardedJob.from_bytes(event.message.value)
        address = forwarded.job.worker_address
        earnings = self._earnings.get(address) or WorkerEarnings(address)
        applies = not earnings.has_applied(forwarded)
        if applies:
            earnings = earnings.apply(forwarded, self._rate)
        performance = self._performance_writes(forwarded)
        # Computed first, written after: a job that fails is applied to neither.
        if applies:
            self._earnings.put(address, earnings, event)
        self._earnings_models[address] = earnings
        for key, value, model in performance:
            if value is not _UNCHANGED:
                self._performance.put(key, value, event)
            if model is not _UNCHANGED:
                self.bucket_models[key] = model
        return []

    def _performance_writes(self, forwarded: ForwardedJob) -> list[tuple[str, Any, Any]]:
        """(key, new row, None or _UNCHANGED; read model to publish, None or _UNCHANGED) for the job's
        workload; None deletes a bucket and its read model."""
        job = forwarded.job
        workload = workload_key(job)
        index = cast(WorkloadIndex | None, self._performance.get(workload, WorkloadIndex.from_json))
        if index is None:
            index = WorkloadIndex({}, AppliedOrigins(), job.dt)
        elif is_applied(index.applied, job.partition_key, forwarded.origin):
            return []
        latest = max(index.latest, job.dt)
        latest_text = latest.isoformat()
        buckets: dict[str, tuple[int, ...]] = dict(index.buckets)
        writes: list[tuple[str, Any, Any]] = []
        for window, placement in self._rolling.placement(buckets, job).items():
            kept = [start for start in buckets.get(window, ()) if start not in placement.expired]
            writes.extend((bucket_key(workload, window, start), None, None) for start in placement.expired)
            if placement.start is not None:
                key = bucket_key(workload, window, placement.start)
                # Each bucket guards itself: a crash may persist it without the index, or the reverse.
                bucket = cast(PerformanceBucket | None, self._performance.get(key, PerformanceBucket.from_json))
                if bucket is None:
                    bucket = PerformanceBucket(self._rolling.aggregate.initialize(), AppliedOrigins(), None)
                model = _read_model(job, window, placement.start, latest_text)
                changed: Any = _UNCHANGED
                if not is_applied(bucket.applied, job.partition_key, forwarded.origin):
                    bucket = changed = PerformanceBucket(
                        self._rolling.aggregate.add(bucket.stats, job),
                        mark_applied(bucket.applied, job.partition_key, forwarded.origin),
                        model,
                    )
                writes.append((key, changed, {**model, "stats": bucket.stats}))
                if placement.start not in kept:
                    kept.append(placement.start)
            buckets[window] = tuple(sorted(kept))
        applied = mark_applied(index.applied, job.partition_key, forwarded.origin)
        writes.append((workload, WorkloadIndex(buckets, applied, latest), _UNCHANGED))
        return writes

    def needs_checkpoint(self) -> bool:
        return False

    async def send_outputs(self) -> list[asyncio.Future[Any]]:
        return []

    def write_tables(self, make_current: Callable[[Any], None]) -> None:
        for table in self._tables():
            for key, stored, event, _ in table.writes():
                make_current(event)
                table.write(key, stored)

    async def publish_read_models(self) -> None:
        for address, earnings in self._earnings_models.items():
            value = json.dumps(earnings.read_model(), separators=(",", ":")).encode()
            await self._send(self._earnings_topic, address.encode(), value)

    def checkpointed(self) -> None:
        for table in self._tables():
            table.checkpointed()
        self._earnings_models.clear()

    def abandon(self) -> None:
        for table in self._tables():
            table.abandon()
        self._earnings_models.clear()

    def forget_clean(self) -> None:
        for table in self._tables():
            table.forget_clean()

    def _tables(self) -> tuple[WriteBack[Any], ...]:
        return (self._earnings, self._performance)


_UNCHANGED: Any = object()


def _read_model(job: AttributedJob, window: str, start: int, latest: str) -> ReadModel:
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


def register(stream_app: StreamApp, dead_letters: DeadLetterWriter, send: Send) -> WorkerLedger:
    app = stream_app.app
    settings = stream_app.settings
    stage = WorkerLedger(stream_app, send)
    table = stream_app.performance

    async def publish_buckets() -> None:
        batch = dict(stage.bucket_models)
        stage.bucket_models.clear()
        for key, model in batch.items():
            value = None if model is None else json.dumps(model, separators=(",", ":")).encode()
            await send(settings.topics.performance, key.encode(), value)

    @app.timer(1.0)
    async def publish_touched_buckets() -> None:
        await publish_buckets()

    @app.timer(settings.export_interval_seconds)
    async def republish_local_buckets() -> None:
        for key, stored in list(table.items()):
            record = msgspec.json.decode(stored)
            if "#" in key and "model" in record:
                stage.bucket_models.setdefault(key, {**record["model"], "stats": record["stats"]})
        await publish_buckets()

    @app.on_before_shutdown.connect
    async def publish_before_shutdown(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await publish_buckets()

    @app.agent(stream_app.jobs_topic, name=f"{settings.app_id}-worker-ledger", concurrency=1)
    async def worker_ledger(stream: faust.StreamT[bytes]) -> None:
        await Checkpointer(stage, stream, stream_app.order, stream_app.lag, dead_letters).run()

    return stage
