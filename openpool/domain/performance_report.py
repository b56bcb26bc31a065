"""Rankings and export records of worker performance, in the predecessor's field names (§4.5, §4.7).

Fixed against the predecessor (replaced-system.md §9.19): rank 1 is the fastest worker (highest median
real-time ratio for transcode, lowest median response time for AI), medians are true medians, AI response
times are seconds rather than nanoseconds read as milliseconds, and a statistic without samples is `null`
rather than NaN. `p95_*` and the transcode `min_`/`max_response_time` are additions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from openpool.domain.performance import AIWorkload, PerformanceSummary


class TranscodeRecord(TypedDict):
    worker_address: str
    median_real_time_ratio: float | None
    mean_real_time_ratio: float | None
    min_real_time_ratio: float | None
    max_real_time_ratio: float | None
    p95_real_time_ratio: float | None
    job_count: int
    median_response_time: float | None
    mean_response_time: float | None
    min_response_time: float | None
    max_response_time: float | None
    p95_response_time: float | None
    total_compute_units: int
    total_fees: int
    median_compute_units_per_second: float | None
    mean_compute_units_per_second: float | None
    min_compute_units_per_second: float | None
    max_compute_units_per_second: float | None
    p95_compute_units_per_second: float | None
    rank: int
    percentile: float


class AIRecord(TypedDict):
    worker_address: str
    model_id: str
    pipeline: str
    model_pipeline: str
    median_response_time: float | None
    mean_response_time: float | None
    min_response_time: float | None
    max_response_time: float | None
    p95_response_time: float | None
    job_count: int
    total_compute_units: int
    total_fees: int
    median_compute_units_per_second: float | None
    mean_compute_units_per_second: float | None
    min_compute_units_per_second: float | None
    max_compute_units_per_second: float | None
    p95_compute_units_per_second: float | None


class RankedAIRecord(AIRecord):
    rank: int
    percentile: float


@dataclass(frozen=True, slots=True)
class Ranking:
    rank: int
    percentile: float


def rank_workers(medians: Mapping[str, float | None], *, higher_is_better: bool) -> dict[str, Ranking]:
    """Rank 1 is best and percentile = (rank − 1) / (n − 1), 0 for a lone worker.

    Equal medians are ordered by address (as a number, whatever its checksum case) so the ranking never
    depends on input order; workers without a sample (every response time unknown) rank last.
    """

    def order(address: str) -> tuple[bool, float, str]:
        median = medians[address]
        if median is None:
            return (True, 0.0, address.lower())
        return (False, -median if higher_is_better else median, address.lower())

    ranked = sorted(medians, key=order)
    last = len(ranked) - 1
    return {
        address: Ranking(rank=position + 1, percentile=position / last if last else 0.0)
        for position, address in enumerate(ranked)
    }


def transcode_performance(summaries: Mapping[str, PerformanceSummary]) -> list[TranscodeRecord]:
    """One ranked record per worker address, best first."""
    rankings = rank_workers(
        {address: summary.real_time_ratio.median for address, summary in summaries.items()}, higher_is_better=True
    )
    records: list[TranscodeRecord] = []
    for address in sorted(rankings, key=lambda known: rankings[known].rank):
        summary = summaries[address]
        ratio, response = summary.real_time_ratio, summary.response_time_seconds
        speed = summary.compute_units_per_second
        records.append(
            {
                "worker_address": address,
                "median_real_time_ratio": ratio.median,
                "mean_real_time_ratio": ratio.mean,
                "min_real_time_ratio": ratio.min,
                "max_real_time_ratio": ratio.max,
                "p95_real_time_ratio": ratio.p95,
                "job_count": summary.job_count,
                "median_response_time": response.median,
                "mean_response_time": response.mean,
                "min_response_time": response.min,
                "max_response_time": response.max,
                "p95_response_time": response.p95,
                "total_compute_units": summary.total_compute_units,
                "total_fees": summary.total_fees,
                "median_compute_units_per_second": speed.median,
                "mean_compute_units_per_second": speed.mean,
                "min_compute_units_per_second": speed.min,
                "max_compute_units_per_second": speed.max,
                "p95_compute_units_per_second": speed.p95,
                "rank": rankings[address].rank,
                "percentile": rankings[address].percentile,
            }
        )
    return records


def ai_performance(summaries: Mapping[AIWorkload, PerformanceSummary]) -> list[AIRecord]:
    """One unranked record per worker, model and pipeline, ordered by model, pipeline and address."""
    return [_ai_record(workload, summaries[workload]) for workload in sorted(summaries, key=_by_model_pipeline)]


def ai_model_pipeline_rankings(
    summaries: Mapping[AIWorkload, PerformanceSummary],
) -> dict[str, list[RankedAIRecord]]:
    """Per "model | pipeline", the workers ranked by median response time, fastest first."""
    groups: dict[str, dict[str, AIWorkload]] = {}
    for workload in summaries:
        groups.setdefault(workload.model_pipeline, {})[workload.worker_address] = workload
    rankings: dict[str, list[RankedAIRecord]] = {}
    for model_pipeline, by_address in sorted(groups.items()):
        ranks = rank_workers(
            {address: summaries[workload].response_time_seconds.median for address, workload in by_address.items()},
            higher_is_better=False,
        )
        rankings[model_pipeline] = [
            {
                **_ai_record(by_address[address], summaries[by_address[address]]),
                "rank": ranks[address].rank,
                "percentile": ranks[address].percentile,
            }
            for address in sorted(ranks, key=lambda known: ranks[known].rank)
        ]
    return rankings


def _ai_record(workload: AIWorkload, summary: PerformanceSummary) -> AIRecord:
    response, speed = summary.response_time_seconds, summary.compute_units_per_second
    return {
        "worker_address": workload.worker_address,
        "model_id": workload.model_id,
        "pipeline": workload.pipeline,
        "model_pipeline": workload.model_pipeline,
        "median_response_time": response.median,
        "mean_response_time": response.mean,
        "min_response_time": response.min,
        "max_response_time": response.max,
        "p95_response_time": response.p95,
        "job_count": summary.job_count,
        "total_compute_units": summary.total_compute_units,
        "total_fees": summary.total_fees,
        "median_compute_units_per_second": speed.median,
        "mean_compute_units_per_second": speed.mean,
        "min_compute_units_per_second": speed.min,
        "max_compute_units_per_second": speed.max,
        "p95_compute_units_per_second": speed.p95,
    }


def _by_model_pipeline(workload: AIWorkload) -> tuple[str, str, str]:
    return (workload.model_id, workload.pipeline, workload.worker_address.lower())
