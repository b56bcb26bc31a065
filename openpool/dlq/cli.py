"""`openpool dlq list|count|redrive`: what was refused, how much of each kind, and re-publishing after a fix.

Every command reads the dead-letter topic from its beginning to the end offsets it had at the start.
Exit codes: 0 done (letters that still fail are listed, not an error); 2 bad settings or usage; 4 Kafka unusable.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from aiokafka.errors import KafkaError

from openpool.dlq.reader import read_dead_letters
from openpool.dlq.redrive import RedrivePlan, plan_redrive
from openpool.dlq.republish import Republished, apply_redrive
from openpool.dlq.selection import CountBy, Selection, count_by, select
from openpool.dlq.stored import StoredLetter, redriven_letters
from openpool.logs import configure_logging
from openpool.settings import load_settings
from openpool.topic_reader import TopicNotFoundError

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

EXIT_UNREACHABLE = 4


def _run(main: Coroutine[Any, Any, T]) -> T:
    """Run one step against the broker; a broker that cannot be used is one line on stderr, not a traceback."""
    try:
        return asyncio.run(main)
    except (KafkaError, TopicNotFoundError) as error:
        click.echo(f"openpool dlq: Kafka unusable: {type(error).__name__}: {error}", err=True)
        sys.exit(EXIT_UNREACHABLE)


@click.group()
def dlq() -> None:
    """The dead-letter topic: list and count what was refused, re-publish it after a fix."""
    configure_logging()


def _filters(function: F) -> F:
    for option in reversed(
        [
            click.option("--reason", default=None, help="Only this reason (e.g. invalid_json, processing_failed)."),
            click.option("--stage", default=None, help="Only this stage (bridge, stream, jobs)."),
            click.option("--source-key", "source_prefix", default=None, help="Only source keys with this prefix."),
        ]
    ):
        function = option(function)
    return function


def _as_json(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(function)


@dlq.command(name="list")
@_filters
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many, oldest first.")
@_as_json
def list_command(
    reason: str | None, stage: str | None, source_prefix: str | None, limit: int | None, as_json: bool
) -> None:
    """The dead letters, oldest first; a letter already re-published is flagged `redriven`."""
    letters = _run(read_dead_letters(load_settings()))
    done = redriven_letters(letters)
    for letter in select(letters, Selection(reason, stage, source_prefix), limit):
        if as_json:
            line = {"partition": letter.where.partition, "offset": letter.where.offset, **letter.value}
            click.echo(json.dumps({**line, "redriven": letter.where in done}))
        else:
            flag = "  [redriven]" if letter.where in done else ""
            click.echo(f"{_describe(letter)}  {_line(letter.detail)[:160]}{flag}")


@dlq.command()
@_filters
@click.option(
    "--by", "by", type=click.Choice([c.value for c in CountBy]), default=CountBy.REASON.value, show_default=True
)
@_as_json
def count(reason: str | None, stage: str | None, source_prefix: str | None, by: str, as_json: bool) -> None:
    """How many dead letters there are of each reason, stage or source key (redrive markers not counted)."""
    letters = _run(read_dead_letters(load_settings()))
    selected = select(letters, Selection(reason, stage, source_prefix))
    counts = count_by(selected, CountBy(by))
    done = redriven_letters(letters)
    redriven = sum(1 for letter in selected if letter.where in done)
    if as_json:
        summary = {"by": by, "counts": dict(counts.most_common()), "total": len(selected), "redriven": redriven}
        click.echo(json.dumps(summary))
        return
    for name, number in counts.most_common():
        click.echo(f"{number:>9}  {_line(name)}")
    click.echo(f"{len(selected):>9}  total ({redriven} already re-published)")


@dlq.command()
@click.option("--reason", required=True, help="The reason of the letters to re-publish.")
@click.option("--stage", default=None, help="Only this stage.")
@click.option("--source-key", "source_prefix", default=None, help="Only source keys with this prefix.")
@click.option("--dry-run", is_flag=True, help="Show what would be re-published; send nothing.")
@_as_json
def redrive(reason: str, stage: str | None, source_prefix: str | None, dry_run: bool, as_json: bool) -> None:
    """Re-publish the selected letters after a fix: refused events that the current contract accepts go to
    the events topic in the bridge's format; records an agent failed on go back to their topic and partition.
    Letters that still fail stay; letters already re-published are skipped."""
    settings = load_settings()
    letters = _run(read_dead_letters(settings))
    plan = plan_redrive(letters, Selection(reason, stage, source_prefix), settings.topics, now=datetime.now(UTC))
    done = [] if dry_run else _run(apply_redrive(settings, plan))
    if as_json:
        click.echo(json.dumps(_plan_json(plan, done, dry_run), indent=2))
        return
    verb = "would redrive" if dry_run else "redriven"
    published = {item.item.letter.where: item.published_at for item in done}
    for item in plan.republish:
        where = published.get(item.letter.where, ())
        to = ", ".join(sorted({record.topic for record in item.records}))
        offsets = f" at {', '.join(f'{p}:{o}' for _, p, o in where)}" if where else ""
        click.echo(f"{verb:<17} {_describe(item.letter)} -> {len(item.records)} record(s) to {to}{offsets}")
    for failing in plan.still_failing:
        click.echo(f"{'still failing':<17} {_describe(failing.letter)}: now {failing.reason} {_line(failing.detail)}")
    for refused in plan.not_redrivable:
        click.echo(f"{'not redrivable':<17} {_describe(refused.letter)}: {refused.why}")
    for letter in plan.already_redriven:
        click.echo(f"{'already redriven':<17} {_describe(letter)}")
    click.echo(
        f"{len(plan.republish)} {verb} ({plan.record_count} record(s)), {len(plan.still_failing)} still failing, "
        f"{len(plan.not_redrivable)} not redrivable, {len(plan.already_redriven)} already redriven"
        + ("; dry run, nothing sent" if dry_run else "")
    )


def _describe(letter: StoredLetter) -> str:
    position = "" if letter.position is None else f" #{letter.position}"
    reason = _line(letter.reason)
    return f"{letter.where}  {letter.at}  {letter.stage:<11} {reason:<28} {_line(letter.source_key)}{position}"


def _line(text: str) -> str:
    """One printable line, whatever the refused input held (newlines, control characters, lone surrogates)."""
    return json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8", "backslashreplace").decode("utf-8")


def _plan_json(plan: RedrivePlan, done: list[Republished], dry_run: bool) -> dict[str, Any]:
    published = {item.item.letter.where: item.published_at for item in done}

    def ref(letter: StoredLetter) -> dict[str, Any]:
        return {
            "dead_letter": str(letter.where),
            "reason": letter.reason,
            "stage": letter.stage,
            "source_key": letter.source_key,
            "position": letter.position,
        }

    return {
        "dry_run": dry_run,
        "republished": [
            {
                **ref(item.letter),
                "records": len(item.records),
                "published": [list(at) for at in published.get(item.letter.where, ())],
            }
            for item in plan.republish
        ],
        "still_failing": [{**ref(f.letter), "now": f.reason, "detail": f.detail} for f in plan.still_failing],
        "not_redrivable": [{**ref(r.letter), "why": r.why} for r in plan.not_redrivable],
        "already_redriven": [ref(letter) for letter in plan.already_redriven],
    }
