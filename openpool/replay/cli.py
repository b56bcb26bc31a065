"""`openpool replay ...`: archive replay, consumer-group offset resets, blue/green diff, payout WAL handover.

None of these commands pays anyone. A replay into the live app id leaves its payout WAL as it is, so nothing
is paid twice; an app id rebuilt from history starts with an EMPTY WAL and must run with payouts disabled
(OPENPOOL_PAYOUTS_ENABLED unset) until `hand-over-wal` has given it the live WAL. Runbook:
docs/runbooks/replay.md.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, NoReturn

import click

from openpool.logs import configure_logging
from openpool.replay.app_snapshot import AppNotFoundError, load_snapshot
from openpool.replay.archive_replay import ArchiveNotConfiguredError, ReplayReport, replay_archive
from openpool.replay.archive_selection import Action, ArchiveFilter
from openpool.replay.group_offsets import (
    GroupBusyError,
    TopicMissingError,
    commit_plan,
    describe_group,
    partition_offsets,
)
from openpool.replay.offset_reset import PartitionReset, ShiftBy, Strategy, ToDatetime, ToEarliest, refusal, reset_plan
from openpool.replay.read_model_diff import DiffReport, diff
from openpool.replay.wal_handover import hand_over_wal
from openpool.replay.wal_handover_plan import HandoverRefused
from openpool.settings import load_settings

EXIT_REFUSED = 1
EXIT_USAGE = 2
REBUILD_WARNING = (
    "app {app} is not the live app: its payout WAL is empty, so it must run with OPENPOOL_PAYOUTS_ENABLED "
    "unset (payouts disabled) until `openpool replay hand-over-wal` has given it the live WAL"
)


class _UtcTime(click.ParamType):
    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 time such as 2026-11-25T12:00:00Z", param, ctx)
        if parsed.tzinfo is None:
            self.fail(f"{value!r} has no time zone; add Z for UTC", param, ctx)
        return parsed


TIME = _UtcTime()


@click.group()
def replay() -> None:
    """Replays and backfills. None of them pays; a rebuilt app id keeps payouts disabled (runbook:
    docs/runbooks/replay.md)."""
    configure_logging()


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"openpool replay: {message}", err=True)
    sys.exit(code)


@replay.command("archive")
@click.option("--since", type=TIME, help="Only files whose flush window ends at or after this time.")
@click.option("--until", type=TIME, help="Only files whose flush window starts before this time.")
@click.option("--region", "regions", multiple=True, help="Only this region (repeatable).")
@click.option("--node-type", "node_types", multiple=True, help="Only this node type, e.g. ai (repeatable).")
@click.option("--to-app", help="App id whose events topic receives the files.  [default: OPENPOOL_APP_ID]")
@click.option("--dry-run", is_flag=True, help="Print what would be replayed; send nothing.")
def archive_command(
    since: datetime | None,
    until: datetime | None,
    regions: tuple[str, ...],
    node_types: tuple[str, ...],
    to_app: str | None,
    dry_run: bool,
) -> None:
    """Republish archived files (S3_ARCHIVE_BUCKET/S3_ARCHIVE_PREFIX) into an app's events topic, as the
    bridge published them. The stream app recognises every event it applied already; with no filter, the
    whole archive."""
    settings = load_settings()
    target = settings if to_app in (None, settings.app_id) else load_settings(OPENPOOL_APP_ID=to_app)
    selection = ArchiveFilter(since, until, frozenset(regions), frozenset(node_types))
    if target.app_id != settings.app_id:
        click.echo("note: " + REBUILD_WARNING.format(app=target.app_id), err=True)
    try:
        report = asyncio.run(replay_archive(settings, target, selection, dry_run=dry_run))
    except ArchiveNotConfiguredError as error:
        _fail(str(error))
    _print_archive_report(report)
    if report.failed:
        sys.exit(1)


def _print_archive_report(report: ReplayReport) -> None:
    planned = report.planned
    click.echo(
        f"archive replay into {report.target_app}{' (dry run)' if report.dry_run else ''}: "
        f"{len(report.decisions)} files: {planned[Action.REPUBLISH]} to republish (already published there), "
        f"{planned[Action.PUBLISH]} to publish (new there), {planned[Action.HOLD]} held"
    )
    for decision in report.held:
        reason = decision.reason.value if decision.reason is not None else "?"
        click.echo(f"  held  {decision.source_key}  {reason}  {decision.detail}".rstrip())
    if report.dry_run:
        for decision in report.decisions:
            if decision.action is not Action.HOLD:
                click.echo(f"  {decision.action.value:9} {decision.source_key}  version {decision.archived.version}")
        return
    click.echo(
        f"sent {sum(report.files_sent.values())} files: {report.events_sent} events, "
        f"{report.dead_letters_sent} dead letters; {len(report.failed)} failed"
    )
    for key, reason in report.failed:
        click.echo(f"  failed  {key}  {reason}")


@replay.command("reset-offsets")
@click.option("--group", required=True, help="Consumer group; the stream workers' group is OPENPOOL_APP_ID.")
@click.option("--topic", required=True, help="Topic whose offsets move, e.g. openpool.events.")
@click.option("--to-datetime", type=TIME, help="From the first record with a timestamp (event DT) at or after this.")
@click.option("--to-earliest", is_flag=True, help="From the earliest offset still in the log.")
@click.option("--shift-by", type=int, help="Move each committed offset by N records (negative: back).")
@click.option("--execute", is_flag=True, help="Apply the plan; without it, only print it.")
def reset_offsets_command(
    group: str,
    topic: str,
    to_datetime: datetime | None,
    to_earliest: bool,
    shift_by: int | None,
    execute: bool,
) -> None:
    """Print (and with --execute apply) new committed offsets of a consumer group on one topic. Refused while
    the group has live members: stop its consumers first."""
    strategy = _strategy(to_datetime, to_earliest, shift_by)
    settings = load_settings()
    bootstrap = settings.kafka_bootstrap_servers
    try:
        offsets = asyncio.run(
            partition_offsets(bootstrap, group, topic, at=strategy.at if isinstance(strategy, ToDatetime) else None)
        )
    except TopicMissingError as error:
        _fail(str(error))
    plan = reset_plan(offsets, strategy)
    _print_reset_plan(group, topic, strategy, plan, execute)
    busy = refusal(asyncio.run(describe_group(bootstrap, group)))
    if busy is not None:
        _fail(f"refused: {busy}", EXIT_REFUSED)
    if not execute:
        click.echo("dry run: nothing changed; run again with --execute to apply")
        return
    try:
        asyncio.run(commit_plan(bootstrap, group, topic, plan))
    except GroupBusyError as error:
        _fail(f"refused: {error}", EXIT_REFUSED)
    click.echo(f"applied: {sum(row.changes for row in plan)} partitions of {topic} moved for group {group}")


def _strategy(to_datetime: datetime | None, to_earliest: bool, shift_by: int | None) -> Strategy:
    chosen: list[Strategy] = []
    if to_datetime is not None:
        chosen.append(ToDatetime(to_datetime))
    if to_earliest:
        chosen.append(ToEarliest())
    if shift_by is not None:
        chosen.append(ShiftBy(shift_by))
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --to-datetime, --to-earliest, --shift-by")
    return chosen[0]


def _print_reset_plan(
    group: str, topic: str, strategy: Strategy, plan: Sequence[PartitionReset], execute: bool
) -> None:
    click.echo(f"group {group}, topic {topic}: {_describe(strategy)}{'' if execute else ' (dry run)'}")
    click.echo(f"{'partition':>9}  {'committed':>12}  {'new':>12}  {'to read':>10}")
    for row in plan:
        current = "-" if row.current is None else str(row.current)
        new = "unchanged" if row.new is None else str(row.new)
        to_read = "" if row.records_to_read is None else str(row.records_to_read)
        click.echo(f"{row.partition:>9}  {current:>12}  {new:>12}  {to_read:>10}")


def _describe(strategy: Strategy) -> str:
    match strategy:
        case ToEarliest():
            return "to the earliest offsets"
        case ToDatetime(at=at):
            return f"to the first records at or after {at.isoformat()}"
        case ShiftBy(records=records):
            return f"shifted by {records:+d} records"


@replay.command("diff")
@click.option("--from-app", required=True, help="The live app id.")
@click.option("--to-app", required=True, help="The app id rebuilt over the full history.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of lines.")
def diff_command(from_app: str, to_app: str, as_json: bool) -> None:
    """Compare two app ids' earnings (per worker and partition, in wei), connections, performance job counts
    and pool totals. Exit 0 when identical, 1 when not. Payouts are not derived state: a rebuilt app's WAL is
    compared only once it holds records."""
    bootstrap = load_settings().kafka_bootstrap_servers

    async def both() -> DiffReport:
        source, target = await asyncio.gather(load_snapshot(bootstrap, from_app), load_snapshot(bootstrap, to_app))
        return diff(source, target)

    try:
        report = asyncio.run(both())
    except AppNotFoundError as error:
        _fail(str(error))
    if as_json:
        click.echo(json.dumps(_diff_json(report), indent=2, default=str))
    else:
        _print_diff(report)
    sys.exit(0 if report.identical else 1)


def _diff_json(report: DiffReport) -> dict[str, Any]:
    return {
        "from_app": report.from_app,
        "to_app": report.to_app,
        "identical": report.identical,
        "workers": list(report.workers),
        "differences": [{**asdict(d), "delta": d.delta} for d in report.differences],
        "compared": dict(report.compared),
        "payouts_compared": report.payouts_compared,
        "paid_beyond_earnings": [asdict(item) for item in report.paid_beyond_earnings],
    }


def _print_diff(report: DiffReport) -> None:
    for d in report.differences:
        delta = "" if d.delta is None else f"  delta={d.delta:+d}"
        unit = " wei" if d.in_wei else ""
        click.echo(
            f"{d.model:<12} {d.subject}  {d.where or '-'}  {d.field}: {report.from_app}={d.from_value} "
            f"{report.to_app}={d.to_value}{delta}{unit}"
        )
    compared = ", ".join(f"{model} {cells}" for model, cells in report.compared.items())
    if report.identical:
        click.echo(f"identical: {report.from_app} and {report.to_app} ({compared} values compared)")
    else:
        click.echo(
            f"DIFFERENT: {len(report.differences)} values differ, workers: {', '.join(report.workers) or '-'} "
            f"({compared} values compared)"
        )
    if not report.payouts_compared:
        click.echo(f"payouts not compared: {REBUILD_WARNING.format(app=report.to_app)}")
    for item in report.paid_beyond_earnings:
        click.echo(
            f"WARNING: {item.address} was paid {item.paid_wei} wei by {report.from_app}, more than the "
            f"{item.rebuilt_earnings_wei} wei it earned in {report.to_app}"
        )


@replay.command("hand-over-wal")
@click.option("--from-app", required=True, help="The app id whose payout WAL is the paid ledger now.")
@click.option("--to-app", required=True, help="The app id that takes payouts over.")
@click.option("--execute", is_flag=True, help="Fence the old payers and copy; without it, only print the plan.")
def hand_over_wal_command(from_app: str, to_app: str, execute: bool) -> None:
    """Give a switched-to app id the payout WAL of the old one, before its payer may run. With --execute, every
    payer of the old app id is fenced (it can record, and so send, nothing more)."""
    if from_app == to_app:
        _fail("--from-app and --to-app are the same app id")
    source = load_settings(OPENPOOL_APP_ID=from_app)
    target = load_settings(OPENPOOL_APP_ID=to_app)
    try:
        handover = asyncio.run(hand_over_wal(source, target, execute=execute))
    except HandoverRefused as error:
        _fail(f"refused: {error}", EXIT_REFUSED)
    verb = "appended" if handover.executed else "would append"
    click.echo(
        f"{from_app} WAL: {handover.source_records} records; {to_app} WAL: {handover.target_records} records; "
        f"{verb} {len(handover.appended)} records to {target.topics.payout_wal}"
    )
    for record in handover.appended:
        click.echo(f"  {record.payout_id}  {record.state.value}  {record.amount_wei} wei")
    if not handover.executed:
        click.echo("dry run: nothing changed; stop the old app's payer, then run again with --execute")
