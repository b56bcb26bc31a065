"""Stage 2 on plain dict stores (stream_app/agents/worker_ledger.py): its earnings and performance buckets are
the pure cores' over the distinct jobs, whatever the batch size, the re-forwarded jobs and the abandoned batches.

A batch copies a performance bucket at its first job for it and adds its later jobs in place; with one job per
batch every job takes the copy.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from openpool.domain.commission import CommissionRate
from openpool.domain.delivery import Origin
from openpool.domain.jobs import AttributedJob
from openpool.domain.performance import JobPerformance, JobStats
from openpool.settings import load_settings
from stream_app.agents.worker_ledger import WorkerLedger, bucket_key, workload_key
from stream_app.forwarded_jobs import ForwardedJob

START = datetime(2026, 12, 7, 12, tzinfo=UTC)


def _records(count: int, seed: int) -> list[Any]:
    """Forwarded jobs of 6 workers over 40 minutes, AI and transcode, with some forwarded again later."""
    rng = random.Random(seed)
    workers = [f"0x{rng.getrandbits(160):040x}" for _ in range(6)]
    offsets: dict[str, int] = {}
    records: list[Any] = []
    for number in range(count):
        ai = rng.random() < 0.3
        key = "us-central|ai" if ai else rng.choice(["us-central|transcode", "eu-central|transcode"])
        offsets[key] = offsets.get(key, 0) + 1
        job = AttributedJob(
            event_id=f"job-{number}",
            partition_key=key,
            region=key.split("|")[0],
            node_type=key.split("|")[1],
            dt=START + timedelta(seconds=number * 2400 / count + rng.random() * 30),
            worker_address=rng.choice(workers),
            fees_wei=rng.randrange(10**12, 10**20),
            compute_units=rng.randrange(1, 10**6),
            response_time_ns=rng.choice([0, rng.randrange(10**8, 10**10)]),
            duration_ms=None if ai else rng.randrange(1000, 3000),
            pipeline="text-to-image" if ai else None,
            model_id=rng.choice(["m1", "m2"]) if ai else None,
        )
        records.append(_record(ForwardedJob(Origin(offsets[key], 0), job).to_bytes()))
        if rng.random() < 0.08:
            records.append(records[rng.randrange(len(records))])
    return records


def _record(value: bytes) -> Any:
    return SimpleNamespace(message=SimpleNamespace(value=value))


def _ledger() -> tuple[WorkerLedger, SimpleNamespace]:
    stores = SimpleNamespace(settings=load_settings(), earnings={}, performance={})
    return WorkerLedger(stores, None), stores  # type: ignore[arg-type]


def _checkpoint(ledger: WorkerLedger) -> None:
    ledger.write_tables(lambda event: None)
    ledger.checkpointed()


def _run(records: list[Any], batch: int) -> dict[str, Any]:
    ledger, stores = _ledger()
    for first in range(0, len(records), batch):
        for record in records[first : first + batch]:
            assert ledger.apply(record) == []
        _checkpoint(ledger)
    return {"earnings": dict(stores.earnings), "performance": dict(stores.performance)}


def _expected(records: list[Any]) -> tuple[dict[tuple[str, str], list[int]], dict[str, JobStats], set[str]]:
    """The pure cores over the distinct jobs: (worker, partition key) -> [fees, commission, earnings, jobs];
    bucket key -> stats; the workloads. The jobs span 40 minutes, so no bucket of the default windows expires."""
    settings = load_settings()
    rate = CommissionRate.from_decimal(settings.pool_commission_rate)
    aggregate = JobPerformance()
    distinct = {record.message.value: ForwardedJob.from_bytes(record.message.value).job for record in records}
    earnings: dict[tuple[str, str], list[int]] = {}
    buckets: dict[str, JobStats] = {}
    for job in distinct.values():
        split = rate.split(job.fees_wei)
        entry = earnings.setdefault((job.worker_address, job.partition_key), [0, 0, 0, 0])
        for position, amount in enumerate((job.fees_wei, split.pool_commission, split.worker_earnings, 1)):
            entry[position] += amount
        second = int(job.dt.timestamp())
        for window in settings.performance_windows_seconds:
            size = window // 24
            key = bucket_key(workload_key(job), str(window), second - second % size)
            buckets[key] = aggregate.add(buckets.get(key) or aggregate.initialize(), job)
    return earnings, buckets, {workload_key(job) for job in distinct.values()}


def _assert_pure(stores: dict[str, Any], records: list[Any]) -> None:
    earnings, buckets, workloads = _expected(records)
    stored = {
        (address, key): [entry[name] for name in ("total_fees", "pool_commission", "worker_earnings", "job_count")]
        for address, value in stores["earnings"].items()
        for key, entry in msgspec.json.decode(value)["entries"].items()
    }
    assert stored == earnings
    performance = {key: msgspec.json.decode(value) for key, value in stores["performance"].items()}
    assert {key: value["stats"] for key, value in performance.items() if "#" in key} == buckets
    assert {key for key in performance if "#" not in key} == workloads
    for workload in workloads:
        starts = {
            window: sorted(int(key.split("#")[2]) for key in buckets if key.startswith(f"{workload}#{window}#"))
            for window in map(str, load_settings().performance_windows_seconds)
        }
        assert performance[workload]["buckets"] == starts


@pytest.mark.parametrize("batch", [1, 7, 100, 2000])
def test_earnings_and_buckets_are_the_pure_cores_whatever_the_batch_size(batch: int) -> None:
    records = _records(800, batch)
    assert len(records) > 840, "some jobs are forwarded again"
    _assert_pure(_run(records, batch), records)


def test_an_abandoned_batch_taken_again_leaves_what_one_run_leaves() -> None:
    records = _records(600, 3)
    ledger, stores = _ledger()
    for record in records[:300]:
        ledger.apply(record)
    _checkpoint(ledger)
    for record in records[300:450]:
        ledger.apply(record)
    ledger.abandon()  # its records are delivered again
    for record in records[300:]:
        ledger.apply(record)
    _checkpoint(ledger)

    _assert_pure({"earnings": stores.earnings, "performance": stores.performance}, records)


def test_a_job_that_cannot_be_applied_changes_no_bucket_the_batch_already_holds() -> None:
    records = _records(200, 4)
    ledger, stores = _ledger()
    for record in records:
        ledger.apply(record)
    last = ForwardedJob.from_bytes(records[-1].message.value)
    refused = replace(last.job, event_id="refused", compute_units=10**308)  # a sample no sketch may hold
    with pytest.raises(ValueError, match="finite non-negative"):
        ledger.apply(_record(ForwardedJob(Origin(last.origin.offset + 1, 0), refused).to_bytes()))
    _checkpoint(ledger)

    _assert_pure({"earnings": stores.earnings, "performance": stores.performance}, records)
