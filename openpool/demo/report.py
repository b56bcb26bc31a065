"""The demo's closing report as plain text: a pure function of what the run was and what it produced."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from openpool.demo.outcome import PipelineOutcome, RankedWorker
from openpool.domain.summary import WEI_PER_ETH

TOP_WORKERS = 10
TOP_PER_RANKING = 3


@dataclass(frozen=True, slots=True)
class DemoFacts:
    """The run's setting: what was generated, where it went, how long the pipeline took."""

    app_id: str
    seed: int
    minutes: float
    workers: int
    jobs_per_second: float
    files: int
    uploads: int
    emitted_events: int
    rejected_elements: int
    late_files: int
    duplicated_files: int
    unmatched_ai_halves: int
    expected_attributed_fees_wei: int
    """The generator's own account of the fees a correct pipeline attributes to workers."""
    commission_rate: Decimal
    threshold_wei: int
    pipeline_seconds: float
    events_published: int
    s3_endpoint: str
    events_bucket: str
    metrics_bucket: str
    api_url: str
    metrics_url: str
    api_running: bool
    log: Path


def eth_text(wei: int, places: int = 6) -> str:
    """An amount in ETH as exact decimal text (no float on the way), truncated to `places`."""
    whole, fraction = divmod(wei, int(WEI_PER_ETH))
    return f"{whole}.{str(fraction).rjust(18, '0')[:places]}"


def render_report(facts: DemoFacts, outcome: PipelineOutcome) -> str:
    sections = [
        _heading(facts),
        _earnings(facts, outcome),
        _payouts(facts, outcome),
        _performance(outcome),
        _dead_letters(outcome),
        _where(facts, outcome),
    ]
    return "\n\n".join(sections) + "\n"


def _heading(facts: DemoFacts) -> str:
    rate = facts.events_published / facts.pipeline_seconds if facts.pipeline_seconds > 0 else 0.0
    return "\n".join(
        [
            f"=== OpenPool Stream demo: {facts.app_id} ===",
            f"Data set: seed {facts.seed}, {facts.minutes:g} min of a {facts.workers}-worker pool at "
            f"{facts.jobs_per_second:g} jobs/s: {facts.files} files ({facts.uploads} uploads), "
            f"{facts.emitted_events:,} events, of which {facts.rejected_elements} malformed; "
            f"{facts.late_files} late files, {facts.duplicated_files} uploaded twice, "
            f"{facts.unmatched_ai_halves} AI halves without a partner.",
            f"Pipeline: bridge + stream app + payer took {_duration(facts.pipeline_seconds)} for "
            f"{facts.events_published:,} events in Kafka ({rate:,.0f} events/s end to end).",
        ]
    )


def _earnings(facts: DemoFacts, outcome: PipelineOutcome) -> str:
    lines = [f"Top workers by earnings (after the pool's {float(facts.commission_rate * 100):g}% commission)"]
    rows = [
        (str(position), row.address, f"{row.jobs:,}", f"{row.earnings_wei:,}", eth_text(row.earnings_wei))
        for position, row in enumerate(outcome.workers[:TOP_WORKERS], start=1)
    ]
    lines += _table(("#", "worker", "jobs", "earnings (wei)", "ETH"), rows, right=(0, 2, 3, 4))
    total, expected = outcome.total_fees_wei, facts.expected_attributed_fees_wei
    check = "matches" if total == expected else f"DIFFERS from ({expected:,} wei)"
    lines += [
        f"Workers with earnings: {len(outcome.workers)}; jobs attributed: {outcome.jobs:,}; fees: {total:,} wei "
        f"({eth_text(total)} ETH), which {check} the generator's own account.",
        f"Pool commission: {outcome.pool_commission_wei:,} wei ({eth_text(outcome.pool_commission_wei)} ETH).",
    ]
    held = outcome.correlation
    if held.held_jobs or held.unattributed_jobs:
        lines.append(
            f"AI fees without a job-received partner: {held.held_jobs} jobs ({held.held_fees_wei:,} wei) held for "
            f"their partner, {held.unattributed_jobs} ({held.unattributed_fees_wei:,} wei) expired to dead letters."
        )
    return "\n".join(lines)


def _payouts(facts: DemoFacts, outcome: PipelineOutcome) -> str:
    heading = f"Payouts on anvil (threshold {facts.threshold_wei:,} wei = {eth_text(facts.threshold_wei)} ETH)"
    if not outcome.payouts:
        return f"{heading}\n  none: no worker reached the threshold, or the payer did not run (see the log)."
    rows = [
        (row.address, eth_text(row.amount_wei), row.state, row.tx_hash or "-", str(row.block or "-"))
        for row in outcome.payouts
    ]
    lines = [heading, *_table(("worker", "ETH", "state", "transaction", "block"), rows, right=(1, 4))]
    paid = [row for row in outcome.payouts if row.state == "confirmed"]
    lines.append(f"{len(paid)} confirmed, {eth_text(sum(row.amount_wei for row in paid))} ETH paid in total.")
    return "\n".join(lines)


def _performance(outcome: PipelineOutcome) -> str:
    lines = ["Performance (longest window, from worker_performance.json)"]
    lines.append("  Transcode: best median real-time ratio per partition")
    lines += _rankings(outcome.transcode, lambda median: f"{median:.2f}x real time")
    lines.append("  AI: fastest median response time per model | pipeline")
    lines += _rankings(outcome.ai, lambda median: f"{median:.3f} s")
    return "\n".join(lines)


def _rankings(rows: Iterable[RankedWorker], show: Callable[[float], str]) -> list[str]:
    groups: dict[str, list[RankedWorker]] = defaultdict(list)
    for row in rows:
        groups[row.group].append(row)
    if not groups:
        return ["    (none)"]
    lines = []
    for group, ranked in sorted(groups.items()):
        best = sorted(ranked, key=lambda row: row.rank)[:TOP_PER_RANKING]
        shown = ", ".join(
            f"#{row.rank} {row.address[:10]}… {show(row.median) if row.median is not None else 'n/a'} ({row.jobs} jobs)"
            for row in best
        )
        lines.append(f"    {group}: {shown}")
    return lines


def _dead_letters(outcome: PipelineOutcome) -> str:
    if not outcome.dead_letters:
        return "Dead letters: none"
    rows = [
        (stage, reason, str(count))
        for (stage, reason), count in sorted(outcome.dead_letters.items(), key=lambda item: (-item[1], item[0]))
    ]
    total = sum(outcome.dead_letters.values())
    return "\n".join([f"Dead letters by reason ({total} in all)", *_table(("stage", "reason", "records"), rows)])


def _where(facts: DemoFacts, outcome: PipelineOutcome) -> str:
    api = facts.api_url
    state = "up now" if facts.api_running else "while `openpool demo --keep-running` runs"
    lines = [
        "Where to look",
        f"  S3 exports ({len(outcome.exports)} objects): s3://{facts.metrics_bucket}/ at {facts.s3_endpoint}",
        *(f"    {key}" for key in outcome.exports),
        f"  Event files: s3://{facts.events_bucket}/",
        f"  Kafka topics: {facts.app_id}.* and {facts.app_id}-*-changelog",
        f"  API ({state}): {api}/pool  {api}/workers  {api}/workers/<address>  {api}/performance",
        f"  Prometheus metrics ({state}): {facts.metrics_url}",
        f"  Payout status: OPENPOOL_APP_ID={facts.app_id} openpool payments status",
        f"  Pipeline log: {facts.log}",
    ]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        return (
            "  "
            + "  ".join(
                cell.rjust(width) if index in right else cell.ljust(width)
                for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )

    return [line(header), *(line(row) for row in rows)]
