"""One payout round — take the WAL over, reconcile, plan, pay — and the dry plan that only reads.

A round is the payer's whole shell: it fences every other payer (`open_payout_wal`), rebuilds the paid
ledger from the WAL alone, settles what the WAL left open against the chain, plans from the settled
ledger and pays. With the kill switch on it still reconciles by observation and plans, and sends
nothing. Afterwards it updates the payments gauges and writes audit objects for settled payouts.

The stream app runs a round every PAYMENT_SENSOR_INTERVAL_SECONDS on its leader (`scheduled_round`);
`openpool payments run --once` runs one by hand. Both go through the same fencing, so even two leaders
by mistake cannot both send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from openpool.domain.payouts import PayoutPlan, plan_payouts
from openpool.metrics import PAYOUT_ROUNDS
from openpool.settings import Settings
from payments.audit import write_audits
from payments.chain import Chain, ChainError, ChainUnavailable
from payments.earnings import EarningsUnreadable, earnings_wei
from payments.gauges import observe_ledger, observe_wallet
from payments.kafka_wal import PayerFenced, WalUnavailable, load_wal, open_payout_wal
from payments.payer import Payer, PayerConfig, PayerRun, Stop, StopReason, policy_from_settings
from payments.signer import KeyLoadError, Signer
from payments.wal import PaidLedger, WalError, ledger_from_wal
from payments.wal_sink import WalSink
from stream_app.read_models import ReadModel

log = logging.getLogger(__name__)

SinkWrapper = Callable[[WalSink], WalSink]

# Errors whose messages are ours and carry no secret; anything else is logged by type only.
EXPLAINED_ERRORS: tuple[type[Exception], ...] = (
    PayerFenced,
    WalUnavailable,
    WalError,
    ChainUnavailable,
    ChainError,
    KeyLoadError,
    EarningsUnreadable,
)
RETRIED_ERRORS: tuple[type[Exception], ...] = (WalUnavailable, ChainUnavailable)
"""Outages a continuously running payer waits out instead of exiting; the WAL makes a retried round safe."""


@dataclass(frozen=True, slots=True)
class RoundReport:
    reconciled: PayerRun
    paid: PayerRun | None
    would_pay: PayoutPlan
    ledger: PaidLedger
    kill_switch: bool
    chain_answered: bool
    """Whether the node answered the wallet reads at the end of the round."""

    @property
    def stop(self) -> Stop | None:
        if self.reconciled.stop is not None:
            return self.reconciled.stop
        return None if self.paid is None else self.paid.stop

    @property
    def outcome(self) -> str:
        stop = self.stop
        if stop is None:
            return "completed"
        return "kill_switch" if stop.reason is StopReason.KILL_SWITCH else "stopped"

    @property
    def touched(self) -> tuple[str, ...]:
        paid = () if self.paid is None else self.paid.records
        return tuple(record.payout_id for record in (*self.reconciled.records, *paid))


@dataclass(slots=True)
class PayerReadiness:
    """What `/readyz` of `openpool payments run` reports: its last round took the WAL over and read it (the
    payer is the one writer), and the node answered."""

    wal_read: bool = False
    chain_answered: bool = False

    def observe(self, report: RoundReport) -> None:
        self.wal_read = True
        self.chain_answered = report.chain_answered

    def failed(self, error: Exception) -> None:
        if isinstance(error, WalUnavailable):
            self.wal_read = False
        if isinstance(error, ChainUnavailable):
            self.chain_answered = False

    def conditions(self) -> dict[str, bool]:
        return {"wal_read": self.wal_read, "chain_answered": self.chain_answered}


def _today() -> date:
    return datetime.now(UTC).date()


async def payout_round(
    settings: Settings, earnings: Mapping[str, int], *, wrap_sink: SinkWrapper | None = None
) -> RoundReport:
    """Run one round; raises `PayerFenced` if another payer took the WAL over before or during it."""
    signer = Signer.from_settings(settings)
    config = PayerConfig.from_settings(settings)
    policy = policy_from_settings(settings)
    today = _today()
    try:
        async with Chain(settings.eth_rpc_endpoint) as chain, open_payout_wal(settings) as wal:
            sink: WalSink = wal if wrap_sink is None else wrap_sink(wal)
            payer = Payer(chain, signer, sink, config, ledger_from_wal(wal.records))
            reconciled = await payer.reconcile()
            would_pay = plan_payouts(earnings, payer.ledger, replace(policy, kill_switch=False), today)
            paid = None
            if reconciled.stop is None:
                paid = await payer.pay(plan_payouts(earnings, payer.ledger, policy, today))
            ledger = payer.ledger
            observe_ledger(ledger)
            chain_answered = await observe_wallet(chain, signer.address, ledger)
    except PayerFenced:
        PAYOUT_ROUNDS.labels(outcome="fenced").inc()
        raise
    except Exception:
        PAYOUT_ROUNDS.labels(outcome="failed").inc()
        raise
    report = RoundReport(reconciled, paid, would_pay, ledger, config.kill_switch, chain_answered)
    PAYOUT_ROUNDS.labels(outcome=report.outcome).inc()
    _log_round(report)
    try:
        await write_audits(settings, ledger.records, rewrite=report.touched)
    except Exception as error:  # the payouts are settled; the next round writes the missing audits
        log.error("payout audits not written", extra={"error": type(error).__name__})
    return report


def _log_round(report: RoundReport) -> None:
    stop = report.stop
    log.info(
        "payout round %s",
        report.outcome,
        extra={
            "payouts_settled": len(report.touched),
            "would_pay": len(report.would_pay.intents),
            "would_pay_wei": report.would_pay.total_wei,
            "stop_reason": None if stop is None else stop.reason.value,
            "stop_detail": None if stop is None else stop.detail,
            "payout_id": None if stop is None else stop.payout_id,
        },
    )


async def dry_plan(settings: Settings, earnings: Mapping[str, int]) -> tuple[PayoutPlan, PaidLedger]:
    """What a round would pay from the WAL as it stands (no reconcile, no write, no send, nobody fenced)."""
    ledger = ledger_from_wal(await load_wal(settings))
    return plan_payouts(earnings, ledger, replace(policy_from_settings(settings), kill_switch=False), _today()), ledger


async def scheduled_round(settings: Settings, earnings: ReadModel) -> RoundReport | None:
    """A round started by the stream app: a failure is logged and counted, never crashes the worker."""
    try:
        await earnings.caught_up()
        return await payout_round(settings, earnings_wei(earnings.values))
    except EXPLAINED_ERRORS as error:
        log.error("payout round failed", extra={"error": type(error).__name__, "reason": str(error)})
    except Exception as error:  # shell boundary: the next round starts again from the WAL
        log.error("payout round failed", extra={"error": type(error).__name__})
    return None
