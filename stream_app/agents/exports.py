"""Writes each partition's `worker_summary.json` and `worker_performance.json` to S3_METRICS_BUCKET.

Both are built from the read models, so any one process holds everything it needs. Performance windows end
at the newest event seen in the pool (event time), so a replay of old data reports what it reported then.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from openpool.domain.events import NodeType, split_partition_key
from openpool.domain.performance import AIWorkload, PerformanceSummary, RollingPerformance
from openpool.domain.performance_report import ai_model_pipeline_rankings, ai_performance, transcode_performance
from openpool.domain.summary import WorkerFees, worker_summary
from openpool.s3_client import s3_client
from openpool.settings import Settings
from payments.audit import payment_history
from payments.kafka_wal import load_wal
from payments.wal import PaidLedger, ledger_from_wal
from stream_app.read_models import ReadModel

log = logging.getLogger(__name__)


def summaries(
    settings: Settings, read_models: dict[str, ReadModel], now: datetime, payouts: PaidLedger | None = None
) -> dict[str, Any]:
    """Every partition's summary document, keyed by its S3 key; payments come from the payout WAL's ledger."""
    paid_wei = {} if payouts is None else payouts.confirmed_wei
    history = {} if payouts is None else payment_history(payouts.records.values())
    earnings, connections = read_models["earnings"], read_models["connections"]
    pool_totals = read_models["pool_totals"].values
    fees: dict[str, dict[str, WorkerFees]] = defaultdict(dict)
    address_earnings: dict[str, int] = {}
    for address, model in earnings.values.items():
        address_earnings[address] = int(model["worker_earnings"])
        for pk, entry in model["partitions"].items():
            fees[pk][address] = WorkerFees(
                int(entry["total_fees"]), int(entry["worker_earnings"]), int(entry["pool_commission"])
            )
    presence: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for pk, workers in connections.values.items():
        for worker in workers:
            presence[pk][worker["eth_address"]] = worker
    documents = {}
    for pk in sorted(set(fees) | set(presence)):
        region, node_type = split_partition_key(pk)
        documents[f"{region}/{node_type}/worker_summary.json"] = worker_summary(
            region=region,
            node_type=node_type,
            now=now,
            fees=fees.get(pk, {}),
            address_earnings_wei=address_earnings,
            presence=presence.get(pk, {}),
            paid_wei=paid_wei,
            payment_history=history,
            threshold_wei=settings.payment_threshold_wei,
            commission_rate=settings.pool_commission_rate,
            correlation_totals=pool_totals.get(pk),
        )
    return documents


def performance_documents(settings: Settings, performance: ReadModel, now: datetime) -> dict[str, Any]:
    """Per partition: the predecessor's three parts for the longest window, and every window under `windows`."""
    rolling = RollingPerformance(windows_seconds=settings.performance_windows_seconds)
    buckets = list(performance.values.values())
    if not buckets:
        return {}
    watermark = max(datetime.fromisoformat(bucket["latest"]) for bucket in buckets)
    workloads: dict[tuple[str, str, str | None, str | None], dict[str, Any]] = {}
    for bucket in buckets:
        identity = (bucket["partition_key"], bucket["worker_address"], bucket["model_id"], bucket["pipeline"])
        workload = workloads.setdefault(identity, {**bucket, "rolling": {}})
        workload["rolling"].setdefault(str(bucket["window"]), {})[str(bucket["start"])] = bucket["stats"]
    by_partition: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (pk, *_), workload in workloads.items():
        by_partition[pk].append(workload)
    documents = {}
    for pk, partition_workloads in sorted(by_partition.items()):
        region, node_type = split_partition_key(pk)
        windows = {
            str(window): _window_parts(rolling, partition_workloads, node_type, watermark, window)
            for window in settings.performance_windows_seconds
        }
        longest = str(max(settings.performance_windows_seconds))
        documents[f"{region}/{node_type}/worker_performance.json"] = {
            "export_timestamp": now.strftime("%Y%m%d_%H%M%S"),
            "node_type": node_type,
            "region": region,
            "window_end": watermark.isoformat(),
            "window_seconds": int(longest),
            **windows[longest],
            "windows": windows,
        }
    return documents


def _window_parts(
    rolling: RollingPerformance, workloads: list[dict[str, Any]], node_type: str, end: datetime, window: int
) -> dict[str, Any]:
    if node_type != NodeType.AI:
        transcode: dict[str, PerformanceSummary] = {
            w["worker_address"]: rolling.result(w["rolling"], now=end, window_seconds=window) for w in workloads
        }
        return {
            "transcode_performance": transcode_performance(transcode),
            "ai_performance": [],
            "ai_model_pipeline_rankings": {},
        }
    ai = {
        AIWorkload(w["worker_address"], w["model_id"], w["pipeline"]): rolling.result(
            w["rolling"], now=end, window_seconds=window
        )
        for w in workloads
    }
    return {
        "transcode_performance": [],
        "ai_performance": ai_performance(ai),
        "ai_model_pipeline_rankings": ai_model_pipeline_rankings(ai),
    }


async def write_exports(settings: Settings, read_models: dict[str, ReadModel]) -> list[str]:
    now = datetime.now(UTC)
    payouts = ledger_from_wal(await load_wal(settings))
    documents = {
        **summaries(settings, read_models, now, payouts),
        **performance_documents(settings, read_models["performance"], now),
    }
    async with s3_client(settings) as s3:
        try:
            await s3.head_bucket(Bucket=settings.s3_metrics_bucket)
        except s3.exceptions.ClientError:
            log.warning("metrics bucket missing; creating it", extra={"bucket": settings.s3_metrics_bucket})
            await s3.create_bucket(Bucket=settings.s3_metrics_bucket)
        for key, document in documents.items():
            body = json.dumps(document, indent=2, allow_nan=False).encode()
            await s3.put_object(Bucket=settings.s3_metrics_bucket, Key=key, Body=body, ContentType="application/json")
    log.info("exports written", extra={"keys": sorted(documents)})
    return sorted(documents)
