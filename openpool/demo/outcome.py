"""What a demo run produced, read back from where the pipeline keeps it: the read-model topics, the payout WAL,
the dead-letter topic and the exports in S3_METRICS_BUCKET."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from openpool.settings import Settings
from openpool.topic_reader import read_to_end
from payments.kafka_wal import load_wal
from payments.wal import latest_records
from stream_app.read_models import ReadModel

PERFORMANCE_EXPORT = "worker_performance.json"


@dataclass(frozen=True, slots=True)
class WorkerEarningsRow:
    address: str
    jobs: int
    total_fees_wei: int
    pool_commission_wei: int
    earnings_wei: int


@dataclass(frozen=True, slots=True)
class PayoutRow:
    payout_id: str
    address: str
    amount_wei: int
    state: str
    tx_hash: str | None
    block: int | None


@dataclass(frozen=True, slots=True)
class RankedWorker:
    group: str
    """The partition (transcode) or `model | pipeline` (AI) the ranking is within."""
    rank: int
    address: str
    median: float | None
    """Median real-time ratio (transcode, higher is better) or response time in seconds (AI, lower is better)."""
    jobs: int


@dataclass(frozen=True, slots=True)
class CorrelationTotals:
    held_jobs: int
    held_fees_wei: int
    unattributed_jobs: int
    unattributed_fees_wei: int


@dataclass(frozen=True, slots=True)
class PipelineOutcome:
    workers: tuple[WorkerEarningsRow, ...]
    """Every worker with earnings, best-earning first."""
    payouts: tuple[PayoutRow, ...]
    transcode: tuple[RankedWorker, ...]
    ai: tuple[RankedWorker, ...]
    correlation: CorrelationTotals
    dead_letters: dict[tuple[str, str], int]
    """(stage, reason) -> records."""
    exports: tuple[str, ...]

    @property
    def total_fees_wei(self) -> int:
        return sum(row.total_fees_wei for row in self.workers)

    @property
    def pool_commission_wei(self) -> int:
        return sum(row.pool_commission_wei for row in self.workers)

    @property
    def jobs(self) -> int:
        return sum(row.jobs for row in self.workers)


async def read_outcome(settings: Settings, exports: list[str], performance: list[dict[str, Any]]) -> PipelineOutcome:
    """`exports` are the keys in the metrics bucket, `performance` the exported performance documents."""
    earnings = await _read_model(settings, settings.topics.earnings)
    pool_totals = await _read_model(settings, settings.topics.pool_totals)
    return PipelineOutcome(
        workers=_workers(earnings),
        payouts=await _payouts(settings),
        transcode=tuple(row for document in performance for row in _transcode_ranking(document)),
        ai=tuple(row for document in performance for row in _ai_rankings(document)),
        correlation=_correlation(pool_totals),
        dead_letters=await _dead_letters(settings),
        exports=tuple(sorted(exports)),
    )


def performance_keys(exports: list[str]) -> list[str]:
    return sorted(key for key in exports if key.endswith(f"/{PERFORMANCE_EXPORT}"))


async def _read_model(settings: Settings, topic: str) -> dict[str, Any]:
    model = ReadModel(settings.kafka_bootstrap_servers, topic)
    await model.start()
    try:
        await model.caught_up()
        return dict(model.values)
    finally:
        await model.stop()


def _workers(earnings: dict[str, Any]) -> tuple[WorkerEarningsRow, ...]:
    rows = [
        WorkerEarningsRow(
            address=str(model["worker_address"]),
            jobs=int(model["job_count"]),
            total_fees_wei=int(model["total_fees"]),
            pool_commission_wei=int(model["pool_commission"]),
            earnings_wei=int(model["worker_earnings"]),
        )
        for model in earnings.values()
    ]
    return tuple(sorted(rows, key=lambda row: (-row.earnings_wei, row.address)))


async def _payouts(settings: Settings) -> tuple[PayoutRow, ...]:
    rows = []
    for record in sorted(latest_records(await load_wal(settings)).values(), key=lambda r: (r.created_at, r.seq)):
        receipt = record.receipt
        rows.append(
            PayoutRow(
                payout_id=record.payout_id,
                address=record.address,
                amount_wei=record.amount_wei,
                state=record.state.value,
                tx_hash=receipt.tx_hash if receipt is not None else (record.tx_hashes or (None,))[-1],
                block=receipt.block_number if receipt is not None else None,
            )
        )
    return tuple(rows)


def _transcode_ranking(document: dict[str, Any]) -> list[RankedWorker]:
    group = f"{document['region']}/{document['node_type']}"
    return [
        RankedWorker(group, int(row["rank"]), row["worker_address"], row["median_real_time_ratio"], row["job_count"])
        for row in document.get("transcode_performance", [])
    ]


def _ai_rankings(document: dict[str, Any]) -> list[RankedWorker]:
    return [
        RankedWorker(group, int(row["rank"]), row["worker_address"], row["median_response_time"], row["job_count"])
        for group, rows in document.get("ai_model_pipeline_rankings", {}).items()
        for row in rows
    ]


def _correlation(pool_totals: dict[str, Any]) -> CorrelationTotals:
    def total(name: str) -> int:
        return sum(int(value.get(name, 0)) for value in pool_totals.values())

    return CorrelationTotals(
        held_jobs=total("held_jobs"),
        held_fees_wei=total("held_fees_wei"),
        unattributed_jobs=total("unattributed_jobs"),
        unattributed_fees_wei=total("unattributed_fees_wei"),
    )


async def _dead_letters(settings: Settings) -> dict[tuple[str, str], int]:
    counts: Counter[tuple[str, str]] = Counter()
    async for record in read_to_end(settings.kafka_bootstrap_servers, settings.topics.dead_letters):
        letter = json.loads(record.value) if record.value is not None else {}
        counts[(str(letter.get("stage", "?")), str(letter.get("reason", "?")))] += 1
    return dict(counts)
