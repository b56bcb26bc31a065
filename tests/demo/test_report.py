from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from openpool.demo.outcome import CorrelationTotals, PayoutRow, PipelineOutcome, RankedWorker, WorkerEarningsRow
from openpool.demo.progress import PipelineProgress, progress_line
from openpool.demo.report import DemoFacts, eth_text, render_report

A = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
B = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
TX = "0x" + "ab" * 32


def _facts(expected_fees: int = 400) -> DemoFacts:
    return DemoFacts(
        app_id="demo-1",
        seed=7,
        minutes=3,
        workers=2,
        jobs_per_second=10,
        files=6,
        uploads=7,
        emitted_events=100,
        rejected_elements=2,
        late_files=1,
        duplicated_files=1,
        unmatched_ai_halves=3,
        expected_attributed_fees_wei=expected_fees,
        commission_rate=Decimal("0.25"),
        threshold_wei=150,
        pipeline_seconds=65,
        events_published=98,
        s3_endpoint="http://127.0.0.1:19020",
        events_bucket="demo-1-events",
        metrics_bucket="demo-1-metrics",
        api_url="http://127.0.0.1:6066",
        metrics_url="http://127.0.0.1:9464/metrics",
        api_running=False,
        log=Path(".openpool/demo/demo-1/run.log"),
    )


OUTCOME = PipelineOutcome(
    workers=(WorkerEarningsRow(A, 3, 300, 75, 225), WorkerEarningsRow(B, 1, 100, 25, 75)),
    payouts=(PayoutRow("po-a-1", A, 225, "confirmed", TX, 12),),
    transcode=(RankedWorker("us-central/transcode", 1, B, 2.5, 1),),
    ai=(RankedWorker("m | llm", 1, A, 0.75, 3),),
    correlation=CorrelationTotals(held_jobs=1, held_fees_wei=9, unattributed_jobs=0, unattributed_fees_wei=0),
    dead_letters={("bridge", "negative_fees"): 2},
    exports=("us-central/transcode/worker_summary.json",),
)


def test_the_report_shows_earnings_commission_payouts_rankings_and_dead_letters() -> None:
    text = render_report(_facts(), OUTCOME)
    assert f"1  {A}     3             225" in text
    assert "Pool commission: 100 wei" in text
    assert "which matches the generator's own account" in text
    assert TX in text and "1 confirmed" in text
    assert "us-central/transcode: #1 0xfB691609… 2.50x real time (1 jobs)" in text
    assert "m | llm: #1 0x5aAeb605… 0.750 s (3 jobs)" in text
    assert "bridge  negative_fees  2" in text
    assert "s3://demo-1-metrics/" in text and "1 min 5 s" in text


def test_a_pipeline_that_lost_fees_says_so() -> None:
    assert "DIFFERS from (401 wei)" in render_report(_facts(expected_fees=401), OUTCOME)


def test_no_payouts_are_reported_as_none() -> None:
    outcome = PipelineOutcome(OUTCOME.workers, (), (), (), OUTCOME.correlation, {}, ())
    text = render_report(_facts(), outcome)
    assert "none: no worker reached the threshold" in text
    assert "Dead letters: none" in text


def test_eth_amounts_are_exact_decimal_text() -> None:
    assert eth_text(1_755_668_040_548_352) == "0.001755"
    assert eth_text(10**18 + 1, places=18) == "1.000000000000000001"


def test_a_progress_line_counts_files_events_lag_and_payouts() -> None:
    line = progress_line(PipelineProgress(75.2, 3, 1000, 400, 350, 620, 2, 1), files_total=6)
    assert line == (
        "  [ 1:15] files 3/6 published · events 400/1,000 processed (lag 620) · jobs 350 attributed · "
        "payouts 2 confirmed, 1 in flight"
    )
