"""The fault-injection loop: trials of new event files and random faults on one long-lived pipeline.

One pipeline runs for the whole loop on the loop's private stack: a bridge, two stream workers (more join,
some leave) and a payer, each supervised as Kubernetes would (`supervisor`). A trial uploads its batch,
injects its planned faults at their moments, waits until every outage is over, then polls the pipeline's
outputs until they match the pure core's answer for everything uploaded so far (`trial_checks`):

- the earnings read model equals the oracle's entries, to the wei;
- every refused element and every expired AI fee is in the dead-letter topic, nothing else is;
- every payout due is mined, once, within the cap, recorded in the WAL; none while the kill switch is on.

A violation (money sent twice, beyond a cap or under the kill switch; a record given up on) stops the loop
at once; a gap still open at the trial's deadline stops it too. The summary then carries the seed, the
trial's plan and the evidence, and the process logs stay in the loop's folder.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka.errors import KafkaError

from openpool.consumer_progress import ConsumerProgress
from openpool.dlq.reader import read_dead_letters
from openpool.domain.commission import CommissionRate
from openpool.domain.correlation import CorrelationPolicy
from openpool.s3_client import s3_client
from openpool.sandbox import Sandbox, create_buckets, free_port
from openpool.settings import Settings, load_settings
from openpool.stack.keystore import DEV_ACCOUNT_ADDRESS
from openpool.topic_reader import TopicNotFoundError
from openpool.topics import ensure_topics, owned_topics
from payments.kafka_wal import WalUnavailable, read_wal
from payments.payer import policy_from_settings
from stream_app.read_models import ReadModel
from tests.payments.anvil_control import AnvilControl
from tests.reliability.fault_plan import Fault, FaultKind, plan_trial
from tests.reliability.oracle import PureCoreOracle
from tests.reliability.pipeline_outputs import PayerTransfers
from tests.reliability.private_stack import PrivateStack
from tests.reliability.supervisor import PeakMemory, Role, Supervisor
from tests.reliability.trial_batches import TrialBatch, TrialBatches
from tests.reliability.trial_checks import (
    DeadLetterComparison,
    EarningsComparison,
    Findings,
    PayoutComparison,
    compare_dead_letters,
    compare_earnings,
    compare_payouts,
)

MAX_WORKERS = 3
PROGRESS_EVERY = 10
POLL_SECONDS = 0.2
WORKER_READY = "Worker]: Ready"
STARTUP_SECONDS = 180.0
MEMORY_SAMPLE_SECONDS = 0.5
_UNREADABLE = (KafkaError, WalUnavailable, TopicNotFoundError, TimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class LoopOptions:
    trials: int
    seed: int
    threshold_wei: int = 5 * 10**12
    """A generated minute pays an AI worker past it, a transcode worker after a few trials."""
    max_payout_wei: int = 5 * 10**13
    """Below what some workers are owed after a kill-switch trial, so the cap binds now and then."""
    trial_deadline_seconds: float = 120.0


@dataclass(frozen=True, slots=True)
class Audit:
    """The pipeline's outputs against the oracle at one moment; a part is None when it was not compared."""

    earnings: EarningsComparison
    payouts: PayoutComparison
    """Against the WAL too when `dead_letters` is there; against the chain only otherwise."""
    dead_letters: DeadLetterComparison | None = None
    pending: str | None = None
    """A gap no comparison shows: outputs that could not be read, a payout round not seen."""

    @property
    def findings(self) -> Findings:
        parts = [self.earnings.findings, self.payouts.findings]
        if self.dead_letters is not None:
            parts.append(self.dead_letters.findings)
        gaps = [gap for part in parts for gap in part.gaps]
        if self.pending is not None:
            gaps.append(self.pending)
        elif self.dead_letters is None:
            gaps.append("the dead letters and the payout WAL are compared once earnings and the chain agree")
        return Findings(tuple(v for part in parts for v in part.violations), tuple(gaps))


@dataclass
class _Tally:
    faults: Counter[str] = field(default_factory=Counter)
    trials: list[dict[str, Any]] = field(default_factory=list)
    uploads: int = 0
    startup_seconds: float | None = None
    last_audit: Audit | None = None


class FaultLoop:
    def __init__(self, stack: PrivateStack, folder: Path, options: LoopOptions, echo: Callable[[str], None]) -> None:
        """`echo` gets a progress line every PROGRESS_EVERY trials."""
        self._stack = stack
        self._options = options
        self._echo = echo
        self._folder = folder
        self._sandbox = Sandbox.create("faults", folder, datetime.now(UTC)).with_settings(**_pipeline_settings(options))
        self.settings: Settings = load_settings(**{**stack.direct.as_env(), **self._sandbox.env()})
        self._policy = policy_from_settings(self.settings)
        self._oracle = PureCoreOracle(
            CommissionRate.from_decimal(self.settings.pool_commission_rate),
            CorrelationPolicy.from_settings(self.settings),
        )
        self._batches = TrialBatches(options.seed)
        self._supervisor = Supervisor()
        self._memory = PeakMemory()
        self._tally = _Tally()
        self._web_ports: dict[str, int] = {}
        self._idle_workers: list[str] = []
        self._kill_switch_block: int | None = None

    @property
    def folder(self) -> Path:
        """Where the loop's processes keep their logs and data dirs (under the app id's folder)."""
        return self._folder

    async def run(self) -> dict[str, Any]:
        """Run every trial (or up to the first failing one) and the final audit; return the summary."""
        began = time.monotonic()
        failure: dict[str, Any] | None = None
        await create_buckets(self.settings)
        await ensure_topics(self.settings, owned_topics(self.settings))
        earnings = ReadModel(self.settings.kafka_bootstrap_servers, self.settings.topics.earnings)
        async with aiohttp.ClientSession() as http:
            anvil = AnvilControl(self._stack.direct.eth_rpc, http)
            transfers = await PayerTransfers.from_now(anvil, DEV_ACCOUNT_ADDRESS)
            sampler = asyncio.create_task(self._sample_memory())
            workers = ("worker-1", "worker-2")
            for name in workers:
                self._supervisor.start(self._worker_role(name))
            self._supervisor.start(self._role("bridge", "bridge", ("bridge",)))
            self._supervisor.start(self._payer_role(kill_switch=False))
            await earnings.start()
            try:
                await asyncio.gather(*(self._supervisor.logged(w, WORKER_READY, STARTUP_SECONDS) for w in workers))
                self._tally.startup_seconds = time.monotonic() - began
                for trial in range(self._options.trials):
                    failure = await self._trial(trial, anvil, earnings, transfers)
                    if failure is not None:
                        break
                    if (trial + 1) % PROGRESS_EVERY == 0:
                        self._echo(self._progress(trial + 1, time.monotonic() - began))
                else:
                    failure = await self._final_audit(anvil, earnings, transfers)
            except Exception:  # the loop's own machinery failed: the summary still says where, with the traceback
                failure = {"trial": len(self._tally.trials), "error": traceback.format_exc()}
            finally:
                sampler.cancel()
                await earnings.stop()
                await self._supervisor.close()
        return self._summary(time.monotonic() - began, failure)

    # --- one trial ---

    async def _trial(
        self, trial: int, anvil: AnvilControl, earnings: ReadModel, transfers: PayerTransfers
    ) -> dict[str, Any] | None:
        plan = plan_trial(self._options.seed, trial)
        batch = self._batches.batch(trial)
        self._oracle.add(batch.files)
        paid_before = len(transfers.transfers)
        await self._set_kill_switch(plan.kill_switch, anvil)
        began = time.monotonic()
        _, *injected = await asyncio.gather(self._upload(batch), *(self._inject(fault) for fault in plan.faults))
        recovering = time.monotonic()
        audit, earnings_settled = await self._converge(earnings, transfers, "kill_switch" if plan.kill_switch else None)
        ended = time.monotonic()
        self._tally.trials.append(
            {
                "trial": trial,
                "seconds": round(ended - began, 2),
                "faults_over_seconds": round(recovering - began, 2),
                "earnings_settled_seconds": None if earnings_settled is None else round(earnings_settled - began, 2),
                "faults": injected,
                "kill_switch": plan.kill_switch,
                "files": len(batch.files),
                "new_workers": batch.new_workers,
                "returning_workers": len(batch.returning),
                "payouts": len(transfers.transfers) - paid_before,
            }
        )
        findings = audit.findings
        if findings.violations or findings.gaps:
            return {
                "trial": trial,
                "plan": plan.to_json(),
                "violations": findings.violations,
                "gaps": findings.gaps,
                "consumer_progress": await self._consumer_progress(),
            }
        return None

    async def _consumer_progress(self) -> dict[str, Any]:
        """Committed against written records of the stream's input topics: lag left means a stall, none a loss."""
        topics = [self.settings.topics.events, self.settings.topics.attributed_jobs]
        try:
            async with ConsumerProgress(self.settings.kafka_bootstrap_servers, self.settings.app_id) as progress:
                return {
                    topic: {"end": done.end, "committed": done.committed}
                    for topic, done in (await progress.of(topics)).items()
                }
        except _UNREADABLE as error:
            return {"unreadable": f"{type(error).__name__}: {error}"}

    async def _final_audit(
        self, anvil: AnvilControl, earnings: ReadModel, transfers: PayerTransfers
    ) -> dict[str, Any] | None:
        """With the kill switch off, everything owed is paid, and one more payout round changes nothing."""
        await self._set_kill_switch(False, anvil)
        audit, _ = await self._converge(earnings, transfers, "completed")
        findings = audit.findings
        if findings.violations or findings.gaps:
            return {
                "trial": "final audit",
                "violations": findings.violations,
                "gaps": findings.gaps,
                "consumer_progress": await self._consumer_progress(),
            }
        return None

    async def _upload(self, batch: TrialBatch) -> None:
        # Straight to S3, not through the proxy: the orchestrators' uploads do not depend on the pipeline's
        # view of S3. One at a time, in the generator's order, so late files arrive late.
        async with s3_client(self.settings) as client:
            for key, body in batch.uploads:
                await client.put_object(Bucket=self.settings.s3_bucket, Key=key, Body=body)
        self._tally.uploads += len(batch.uploads)

    async def _converge(
        self, earnings: ReadModel, transfers: PayerTransfers, one_more_round: str | None
    ) -> tuple[Audit, float | None]:
        """Poll until the audit finds nothing (and, with `one_more_round`, the payer has since finished a round of
        that outcome and the audit still finds nothing), a violation, or the deadline. Returns the last audit and
        when the earnings first matched the oracle."""
        deadline = time.monotonic() + self._options.trial_deadline_seconds
        rounds_before: int | None = None
        earnings_settled: float | None = None
        while True:
            audit = await self._audit(earnings, transfers)
            self._tally.last_audit = audit
            if earnings_settled is None and not audit.earnings.differing:
                earnings_settled = time.monotonic()
            findings = audit.findings
            if findings.violations:
                return audit, earnings_settled
            if not findings.gaps:
                if one_more_round is None:
                    return audit, earnings_settled
                rounds = self._payer_rounds(one_more_round)
                if rounds_before is None:
                    rounds_before = rounds
                elif rounds > rounds_before:
                    return audit, earnings_settled
            if time.monotonic() > deadline:
                if not findings.gaps:
                    missing = f"no payout round {one_more_round!r} within the deadline after the pipeline settled"
                    return Audit(audit.earnings, audit.payouts, audit.dead_letters, pending=missing), earnings_settled
                return audit, earnings_settled
            await asyncio.sleep(POLL_SECONDS)

    async def _audit(self, earnings: ReadModel, transfers: PayerTransfers) -> Audit:
        earned = self._oracle.earned_by_address()
        chain = await transfers.refresh()
        earnings_now = compare_earnings(self._oracle.earnings, earnings.values)
        on_chain = compare_payouts(earned, chain, None, self._policy, self._kill_switch_block)
        if earnings_now.differing or on_chain.findings.violations or on_chain.findings.gaps:
            return Audit(earnings_now, on_chain)
        try:
            letters, wal = await asyncio.gather(
                read_dead_letters(self.settings),
                read_wal(self.settings.kafka_bootstrap_servers, self.settings.topics.payout_wal),
            )
        except _UNREADABLE as error:
            return Audit(earnings_now, on_chain, pending=f"outputs not readable: {type(error).__name__}: {error}")
        return Audit(
            earnings_now,
            compare_payouts(earned, chain, wal, self._policy, self._kill_switch_block),
            compare_dead_letters(self._oracle.refusals, self._oracle.unattributed, letters),
        )

    # --- faults ---

    async def _inject(self, fault: Fault) -> str:
        await asyncio.sleep(fault.at_seconds)
        stack = self._stack
        match fault.kind:
            case FaultKind.KILL_BRIDGE:
                label = self._kill("bridge", fault.kind)
            case FaultKind.KILL_PAYER:
                label = self._kill("payer", fault.kind)
            case FaultKind.KILL_WORKER:
                workers = self._supervisor.names("worker")
                label = self._kill(workers[int(fault.pick * len(workers))], fault.kind)
            case FaultKind.BROKER_RESTART:
                await stack.stop_broker()
                await asyncio.sleep(fault.duration_seconds)
                await stack.start_broker()
                label = fault.kind.value
            case FaultKind.S3_OUTAGE:
                await stack.s3_proxy.cut()
                await asyncio.sleep(fault.duration_seconds)
                await stack.s3_proxy.restore()
                label = fault.kind.value
            case FaultKind.RPC_OUTAGE:
                await stack.rpc_proxy.cut()
                await asyncio.sleep(fault.duration_seconds)
                await stack.rpc_proxy.restore()
                label = fault.kind.value
            case FaultKind.RPC_ERRORS:
                await stack.rpc_proxy.answer_errors()
                await asyncio.sleep(fault.duration_seconds)
                await stack.rpc_proxy.restore()
                label = fault.kind.value
            case FaultKind.REBALANCE:
                label = await self._rebalance(fault.pick)
        self._tally.faults[label] += 1
        return label

    def _kill(self, name: str, kind: FaultKind) -> str:
        if self._supervisor.kill(name):
            return kind.value
        return f"{kind.value} (missed: restarting at that moment)"

    async def _rebalance(self, pick: float) -> str:
        workers = self._supervisor.names("worker")
        if len(workers) == 1 or (pick < 0.5 and len(workers) < MAX_WORKERS):
            # A worker that left earlier comes back with its old data dir, as a pod with its volume would.
            name = self._idle_workers.pop(0) if self._idle_workers else f"worker-{len(self._web_ports) + 1}"
            self._supervisor.start(self._worker_role(name))
            return "worker_join"
        leaving = workers[int(pick * len(workers))]
        await self._supervisor.stop(leaving)
        self._idle_workers.append(leaving)
        return "worker_leave"

    async def _set_kill_switch(self, on: bool, anvil: AnvilControl) -> None:
        if on == (self._kill_switch_block is not None):
            return
        await self._supervisor.stop("payer")
        # Whatever the previous payer sent is mined by now (anvil mines on receipt): from here on, nothing may be.
        self._kill_switch_block = await anvil.block_number() if on else None
        self._supervisor.start(self._payer_role(kill_switch=on))

    # --- processes ---

    def _role(self, name: str, kind: str, args: tuple[str, ...], **settings: str) -> Role:
        env = {**self._stack.proxied.as_env(), **self._sandbox.env(), **settings}
        return Role(name, kind, args, env, self._sandbox.log_file(name))

    def _worker_role(self, name: str) -> Role:
        port = self._web_ports.setdefault(name, free_port())
        data_dir = str(self._sandbox.data_dir / name)
        return self._role(name, "worker", ("worker",), OPENPOOL_DATA_DIR=data_dir, OPENPOOL_WEB_PORT=str(port))

    def _payer_role(self, *, kill_switch: bool) -> Role:
        return self._role("payer", "payer", ("payments", "run"), OPENPOOL_PAYOUTS_KILL_SWITCH=str(kill_switch).lower())

    def _payer_rounds(self, outcome: str) -> int:
        """Payout rounds with this outcome in the payer's log, over all its restarts."""
        try:
            text = self._sandbox.log_file("payer").read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return 0
        return text.count(f'"message": "payout round {outcome}"')

    async def _sample_memory(self) -> None:
        while True:
            services = {name: [pid] for name, pid in self._stack.service_pids().items()}
            self._memory.sample({**self._supervisor.pids_by_kind(), **services})
            await asyncio.sleep(MEMORY_SAMPLE_SECONDS)

    # --- the summary ---

    def _progress(self, trials: int, elapsed: float) -> str:
        restarts = sum(self._supervisor.restarts.values())
        faults = sum(self._tally.faults.values())
        planned = self._options.trials
        return f"  {trials}/{planned} trials settled in {elapsed:.0f} s: {faults} faults, {restarts} restarts"

    def _summary(self, elapsed: float, failure: dict[str, Any] | None) -> dict[str, Any]:
        tally = self._tally
        seconds = [trial["seconds"] for trial in tally.trials]
        audit = tally.last_audit
        summary: dict[str, Any] = {
            "outcome": "failed" if failure is not None else "passed",
            "seed": self._options.seed,
            "trials": len(tally.trials),
            "trials_planned": self._options.trials,
            "elapsed_seconds": round(elapsed, 1),
            "startup_seconds": None if tally.startup_seconds is None else round(tally.startup_seconds, 1),
            "trial_seconds": _spread(seconds),
            "trial_seconds_by_fault": {
                kind: _spread([trial["seconds"] for trial in tally.trials if kind in trial["faults"]])
                for kind in sorted({label for trial in tally.trials for label in trial["faults"]})
            },
            "faults_injected": dict(sorted(tally.faults.items())),
            "faults_total": sum(tally.faults.values()),
            "kill_switch_trials": sum(1 for trial in tally.trials if trial["kill_switch"]),
            "process_exits": {f"{kind}: {cause}": n for (kind, cause), n in sorted(self._supervisor.exits.items())},
            "exits_not_injected": [
                {"process": kind, "cause": cause, "last_log_line": line, "count": n}
                for (kind, cause, line), n in self._supervisor.last_words.most_common()
            ],
            "restarts": dict(sorted(self._supervisor.restarts.items())),
            "data": {
                "uploads": tally.uploads,
                "distinct_events": self._oracle.events,
                "workers_with_earnings": len(self._oracle.earned_by_address()),
                "refused_elements": len(self._oracle.refusals),
                "unattributed_ai_fees": len(self._oracle.unattributed),
            },
            "peak_rss_mib": self._memory.mebibytes(),
            "requests_refused_by_proxy": {
                "s3": self._stack.s3_proxy.requests_refused,
                "rpc": self._stack.rpc_proxy.requests_refused,
            },
            "failure": failure,
            "folder": str(self.folder),
        }
        if audit is not None:
            summary |= {
                "lost_wei": audit.earnings.lost_wei,
                "extra_wei": audit.earnings.extra_wei,
                "double_payments": audit.payouts.double_payments,
                "overpaid_wei": audit.payouts.overpaid_wei,
                "payouts": {
                    "mined": audit.payouts.payouts,
                    "paid_wei": audit.payouts.paid_wei,
                    "at_the_cap": audit.payouts.capped,
                },
            }
            if audit.dead_letters is not None:
                summary["dead_letters"] = {
                    "by_reason": dict(sorted(audit.dead_letters.by_reason.items())),
                    "duplicates": audit.dead_letters.duplicates,
                    "missing": len(audit.dead_letters.missing),
                }
        summary["per_trial"] = tally.trials
        return summary


def _spread(seconds: list[float]) -> dict[str, Any]:
    """Trial durations: how many, their mean, median and maximum."""
    if not seconds:
        return {"trials": 0}
    return {
        "trials": len(seconds),
        "mean": round(statistics.fmean(seconds), 2),
        "median": round(statistics.median(seconds), 2),
        "max": max(seconds),
    }


def _pipeline_settings(options: LoopOptions) -> dict[str, str]:
    return {
        "OPENPOOL_METRICS_PORT": "0",
        "OPENPOOL_EVENTS_PARTITIONS": "4",
        "OPENPOOL_WORKER_PARTITIONS": "4",
        # The broker's smallest session timeout (group.min.session.timeout.ms): a killed worker's partitions
        # move on as soon as Kafka allows.
        "OPENPOOL_KAFKA_SESSION_TIMEOUT_SECONDS": "6",
        "OPENPOOL_KAFKA_HEARTBEAT_INTERVAL_SECONDS": "1",
        "S3_SENSOR_INTERVAL_SECONDS": "0.5",
        "PAYMENT_SENSOR_INTERVAL_SECONDS": "0.3",
        "PAYMENT_THRESHOLD_WEI": str(options.threshold_wei),
        "OPENPOOL_PAYOUT_MAX_WEI": str(options.max_payout_wei),
        "OPENPOOL_PAYOUT_POLL_INTERVAL_SECONDS": "0.05",
        "OPENPOOL_PAYOUT_RECEIPT_TIMEOUT_SECONDS": "10",
        # Ten trials of event time: AI fees without a partner expire into the dead-letter topic during the loop.
        "OPENPOOL_CORRELATION_TTL_SECONDS": "600",
        "OPENPOOL_PAYOUTS_ENABLED": "false",
        "OPENPOOL_PAYOUTS_KILL_SWITCH": "false",
    }
