"""`openpool payments`: plan, run, status, reconcile, resolve and import-history.

Commands that write the WAL (run, reconcile, resolve, import-history) take it over first, fencing any
other payer of the same app id, the stream app's included; plan and status only read.

Exit codes: 0 done; 1 a round stopped before finishing, or a decision or import was refused;
2 bad settings or usage, a taken OPENPOOL_METRICS_PORT included; 3 fenced by another payer; 4 the WAL, the
chain or the key was unusable.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from openpool import health_endpoint
from openpool.domain.payouts import PayoutPlan
from openpool.domain.summary import eth
from openpool.logs import configure_logging
from openpool.settings import Settings, load_settings
from payments.audit import write_audits
from payments.chain import Chain
from payments.earnings import load_earnings
from payments.history_import import HistoryError, plan_import, read_history
from payments.kafka_wal import PayerFenced, ensure_payer_topics, load_wal, open_payout_wal
from payments.payer import Payer, PayerConfig, PayerRun, StopReason
from payments.payout_round import (
    EXPLAINED_ERRORS,
    RETRIED_ERRORS,
    PayerReadiness,
    RoundReport,
    dry_plan,
    payout_round,
)
from payments.resolution import ResolutionRefused, resolve
from payments.signer import Signer
from payments.status import payout_status
from payments.wal import Resolution, WalRecord, ledger_from_wal

T = TypeVar("T")

EXIT_STOPPED = 1
EXIT_FENCED = 3
EXIT_UNUSABLE = 4


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command's coroutine; typed failures become one line on stderr and an exit code."""
    try:
        return asyncio.run(main())
    except PayerFenced as error:
        click.echo(f"openpool payments: fenced: {error}", err=True)
        sys.exit(EXIT_FENCED)
    except (ResolutionRefused, HistoryError) as error:
        click.echo(f"openpool payments: refused: {error}", err=True)
        sys.exit(EXIT_STOPPED)
    except EXPLAINED_ERRORS as error:
        click.echo(f"openpool payments: {type(error).__name__}: {error}", err=True)
        sys.exit(EXIT_UNUSABLE)


def _wei(amount: int) -> str:
    return f"{amount} wei ({eth(amount):.6f} ETH)"


@click.group()
def payments() -> None:
    """Payouts in ETH: WAL-first, one payer at a time, never twice."""
    configure_logging()


async def current_earnings(settings: Settings) -> dict[str, int]:
    await ensure_payer_topics(settings)
    return await load_earnings(settings)


# --- plan ---


@payments.command()
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(as_json: bool) -> None:
    """Dry run: what a round would pay now, and why every other address is not paid. Writes and sends nothing."""
    settings = load_settings()

    async def main() -> PayoutPlan:
        planned, _ = await dry_plan(settings, await current_earnings(settings))
        return planned

    planned = run_async(main)
    if as_json:
        click.echo(json.dumps(_plan_json(planned, settings), indent=2))
        return
    if settings.payouts_kill_switch:
        click.echo("kill switch ON (OPENPOOL_PAYOUTS_KILL_SWITCH): a round would send nothing")
    click.echo(f"would pay {len(planned.intents)} payout(s), {_wei(planned.total_wei)}")
    for intent in planned.intents:
        click.echo(f"  pay   {intent.payout_id}  {_wei(intent.amount_wei)}")
    for address, reason in sorted(planned.skipped.items()):
        click.echo(f"  skip  {address}  {reason.value}")


def _plan_json(planned: PayoutPlan, settings: Settings) -> dict[str, Any]:
    return {
        "kill_switch": settings.payouts_kill_switch,
        "total_wei": planned.total_wei,
        "payouts": [
            {"payout_id": i.payout_id, "address": i.address, "amount_wei": i.amount_wei, "seq": i.seq}
            for i in planned.intents
        ],
        "skipped": {address: reason.value for address, reason in sorted(planned.skipped.items())},
    }


# --- run ---


@payments.command(name="run")
@click.option("--once", is_flag=True, help="Run one round and exit (otherwise every PAYMENT_SENSOR_INTERVAL_SECONDS).")
def run_command(once: bool) -> None:
    """Reconcile, plan and pay; with the kill switch on, reconcile and plan only.

    Running continuously, it serves /metrics, /healthz and /readyz on OPENPOOL_METRICS_PORT."""
    settings = load_settings()

    async def one_round() -> RoundReport:
        return await payout_round(settings, await current_earnings(settings))

    if once:
        report = run_async(one_round)
        echo_round(report)
        sys.exit(0 if report.outcome in ("completed", "kill_switch") else EXIT_STOPPED)

    health = health_endpoint.claim(settings.metrics_port)  # a taken port stops it here, before the first round

    async def forever() -> None:
        readiness = PayerReadiness()
        async with health_endpoint.serving(health, readiness.conditions):
            while True:
                try:
                    report = await payout_round(settings, await current_earnings(settings))
                except RETRIED_ERRORS as error:  # a broker or node outage: not ready, and the next round retries
                    readiness.failed(error)
                    click.echo(
                        f"openpool payments: round not run, retried later: {type(error).__name__}: {error}", err=True
                    )
                else:
                    readiness.observe(report)
                    echo_round(report)
                await asyncio.sleep(settings.payment_sensor_interval_seconds)

    run_async(forever)


def echo_round(report: RoundReport) -> None:
    for record in report.reconciled.records:
        click.echo(f"reconciled {record.payout_id}: {record.state.value}")
    for record in () if report.paid is None else report.paid.records:
        click.echo(f"paid       {record.payout_id}: {record.state.value}, {_wei(record.amount_wei)}")
    if report.kill_switch:
        click.echo(f"kill switch ON: sent nothing; would pay {len(report.would_pay.intents)} payout(s)")
        for intent in report.would_pay.intents:
            click.echo(f"  would pay {intent.payout_id}  {_wei(intent.amount_wei)}")
    stop = report.stop
    if stop is not None:
        where = f" ({stop.payout_id})" if stop.payout_id else ""
        click.echo(f"stopped: {stop.reason.value}{where}: {stop.detail}", err=stop.reason is not StopReason.KILL_SWITCH)
    click.echo(f"round {report.outcome}")


# --- status ---


@payments.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    """Per address: earned, confirmed, in flight, open payouts; whether payouts are halted; totals."""
    settings = load_settings()

    async def main() -> dict[str, Any]:
        earnings = await current_earnings(settings)
        return payout_status(earnings, ledger_from_wal(await load_wal(settings))).to_json()

    report = run_async(main)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"payouts halted: {'YES — see `openpool payments resolve`' if report['halted'] else 'no'}")
    for row in report["addresses"]:
        flags = " ".join(flag for flag, on in (("HALTED", row["halted"]), ("REVIEW", row["awaiting_review"])) if on)
        click.echo(
            f"{row['address']}  earned {row['earned_wei']}  confirmed {row['confirmed_wei']}  "
            f"in flight {row['in_flight_wei']}  unpaid {row['unpaid_wei']}  "
            f"open {','.join(row['open_payouts']) or '-'}  {flags}".rstrip()
        )
    totals = report["totals"]
    click.echo(
        f"total: {totals['addresses']} addresses, earned {_wei(totals['earned_wei'])}, "
        f"confirmed {_wei(totals['confirmed_wei'])}, in flight {_wei(totals['in_flight_wei'])}, "
        f"{totals['open_payouts']} open payout(s)"
    )


# --- reconcile ---


@payments.command()
def reconcile() -> None:
    """Settle every open payout against the chain (mined -> confirmed/failed; unknown nonce use -> halt)."""
    settings = load_settings()

    async def main() -> PayerRun:
        signer = Signer.from_settings(settings)
        async with Chain(settings.eth_rpc_endpoint) as chain, open_payout_wal(settings) as wal:
            payer = Payer(chain, signer, wal, PayerConfig.from_settings(settings), ledger_from_wal(wal.records))
            settled = await payer.reconcile()
            records = payer.ledger.records
        await write_audits(settings, records, rewrite=[r.payout_id for r in settled.records])
        return settled

    settled = run_async(main)
    for record in settled.records:
        click.echo(f"{record.payout_id}: {record.state.value}")
    if settled.stop is not None:
        click.echo(f"stopped: {settled.stop.reason.value}: {settled.stop.detail}", err=True)
        sys.exit(EXIT_STOPPED)
    click.echo(f"reconciled {len(settled.records)} open payout(s)")


# --- resolve ---


@payments.command(name="resolve")
@click.argument("payout_id")
@click.option("--as", "verdict", type=click.Choice(["paid", "unpaid"]), required=True, help="The decision.")
@click.option("--evidence", required=True, help="What the decision rests on (explorer link, ticket, ...).")
@click.option("--tx-hash", default=None, help="The transaction that paid it, when resolving as paid.")
@click.option("--operator", default=getpass.getuser, show_default="the current user", help="Who decides.")
def resolve_command(payout_id: str, verdict: str, evidence: str, tx_hash: str | None, operator: str) -> None:
    """Record an operator's decision on a halted or failed payout.

    `--as unpaid` releases the amount to be paid again; for a payout with signed transactions it is refused
    unless the chain shows its nonce used and none of its transactions mined successfully.
    """
    settings = load_settings()

    async def main() -> WalRecord:
        try:
            decision = Resolution(
                paid=verdict == "paid",
                evidence=evidence,
                operator=operator,
                tx_hash=tx_hash.lower() if tx_hash else None,
            )
        except ValueError as error:
            raise ResolutionRefused(f"invalid decision: {error}") from None
        async with Chain(settings.eth_rpc_endpoint) as chain, open_payout_wal(settings) as wal:
            record = ledger_from_wal(wal.records).records.get(payout_id)
            if record is None:
                raise ResolutionRefused(f"no payout {payout_id} in the WAL")
            resolved = await resolve(record, decision, chain, datetime.now(UTC))
            await wal.append(resolved)
        await write_audits(settings, {resolved.payout_id: resolved}, rewrite=[resolved.payout_id])
        return resolved

    resolved = run_async(main)
    click.echo(f"{resolved.payout_id}: {resolved.state.value}")


# --- import-history ---


@payments.command(name="import-history")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would be imported; write nothing.")
def import_history(directory: Path, dry_run: bool) -> None:
    """Record the predecessor's completed payments (payments_*_*_*.json audit files) as paid, idempotently."""
    settings = load_settings()
    try:
        history = read_history(directory)
    except HistoryError as error:
        click.echo(f"openpool payments: refused: {error}", err=True)
        sys.exit(EXIT_STOPPED)

    async def main() -> tuple[int, int, int]:
        if dry_run:
            records = await load_wal(settings)
            planned = plan_import(history, records, ledger_from_wal(records), datetime.now(UTC))
            return len(planned.records), planned.total_wei, len(planned.already_imported)
        async with open_payout_wal(settings) as wal:
            planned = plan_import(history, wal.records, ledger_from_wal(wal.records), datetime.now(UTC))
            for record in planned.records:
                await wal.append(record)
        await write_audits(settings, {r.payout_id: r for r in planned.records})
        return len(planned.records), planned.total_wei, len(planned.already_imported)

    imported, total, already = run_async(main)
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{len(history.files)} audit file(s): {verb} {imported} completed payment(s), {_wei(total)}; "
        f"{already} already imported; {history.not_completed} not completed (not imported)"
    )
    for payment in history.to_check:
        click.echo(
            f"  check on chain: {payment.payment_id} ({payment.status}) {payment.tx_hash} -> {payment.address}, "
            f"{_wei(payment.amount_wei)}: it may have been mined; if so, it was paid",
            err=True,
        )
