"""Randomized fault trials on one long-lived pipeline: whatever is killed, stopped or cut, no wei is lost or doubled.

Each trial uploads a new minute of a generated pool (new workers and returning ones) and, at random moments,
SIGKILLs the bridge, a stream worker or the payer, stops and restarts the broker, cuts S3 or the chain's RPC
endpoint, makes the RPC answer errors, or has a worker join or leave. Processes that exit are restarted and
counted. After each trial's recovery the earnings equal the pure core's to the wei, every refusal is a dead
letter, and every payout due was mined exactly once, within the cap, and none under the kill switch
(`fault_loop`).

The loop runs on a stack of its own (the shared test broker must never be restarted). OPENPOOL_FAULT_TRIALS
sets the number of trials (100 by default) and OPENPOOL_FAULT_SEED the seed (random by default, printed
first): the same seed replays the same plans and the same data. The summary goes to
.openpool/reliability/fault-trials.json (fault-trials-tiny.json for the short run of `make test`); the
processes' logs and the broker's data stay in .openpool/reliability/fault-trial-runs/ when a run fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.fault_loop import FaultLoop, LoopOptions
from tests.reliability.fault_plan import FaultKind
from tests.reliability.private_stack import private_stack

pytestmark = pytest.mark.integration

REPORTS = Path(__file__).resolve().parents[2] / ".openpool" / "reliability"
RUNS = REPORTS / "fault-trial-runs"
"""A folder per run — the processes' logs and data dirs, the stack's Kafka data — kept when the run fails:
they are its evidence."""


def _seed() -> int:
    given = os.environ.get("OPENPOOL_FAULT_SEED")
    return int(given) if given else secrets.randbelow(2**31)


def _echo(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    def echo(line: str) -> None:
        with capsys.disabled():
            print(line, flush=True)

    return echo


async def _fault_trials(trials: int, report: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    seed = _seed()
    with capsys.disabled():
        print(f"\nfault trials: {trials} trials, OPENPOOL_FAULT_SEED={seed}", flush=True)
    folder = RUNS / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-seed-{seed}-{secrets.token_hex(2)}"
    async with private_stack(folder / "stack") as stack:
        summary = await FaultLoop(stack, folder, LoopOptions(trials=trials, seed=seed), echo=_echo(capsys)).run()
    if summary["outcome"] == "passed":
        shutil.rmtree(folder, ignore_errors=True)
    REPORTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary, indent=2, default=str)
    (REPORTS / report).write_text(text + "\n", encoding="utf-8")
    shown = {key: value for key, value in summary.items() if key != "per_trial"}
    with capsys.disabled():
        print(f"fault trials summary ({REPORTS / report}):\n{json.dumps(shown, indent=2, default=str)}", flush=True)
    assert summary["outcome"] == "passed", (
        f"replay with OPENPOOL_FAULT_SEED={seed}; logs and broker data in {summary['folder']}; "
        f"{json.dumps(summary['failure'])}"
    )
    assert summary["trials"] == trials
    assert (summary["lost_wei"], summary["extra_wei"]) == (0, 0)
    assert (summary["double_payments"], summary["overpaid_wei"]) == (0, 0)
    assert summary["dead_letters"]["missing"] == 0
    assert summary["faults_total"] >= trials
    return summary


async def test_a_few_fault_trials_on_a_live_pipeline_lose_and_double_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _fault_trials(3, "fault-trials-tiny.json", capsys)


@pytest.mark.slow
async def test_a_hundred_randomized_fault_trials_lose_and_double_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    trials = int(os.environ.get("OPENPOOL_FAULT_TRIALS", "100"))
    summary = await _fault_trials(trials, "fault-trials.json", capsys)
    injected = {label.split(" ")[0] for label in summary["faults_injected"]}
    expected = {kind.value for kind in FaultKind if kind is not FaultKind.REBALANCE} | {"worker_join", "worker_leave"}
    # 100 trials draw about 150 faults of 8 kinds: a kind never drawn means the plan, not chance.
    assert trials < 50 or expected <= injected, sorted(expected - injected)
    assert trials < 50 or summary["payouts"]["mined"] > 0
