"""`openpool generate`: write a generated data set to a folder, to S3, and its manifest to a file."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from openpool.generator.config import GeneratorConfig, GeneratorConfigError
from openpool.generator.dataset import generate
from openpool.generator.output import upload, write_folder, write_manifest
from openpool.generator.pool_model import Partition
from openpool.settings import load_settings

_DEFAULTS: dict[str, Any] = {field.name: field.default for field in fields(GeneratorConfig)}
_F = TypeVar("_F", bound=Callable[..., Any])
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([hms]?)")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1, "": 1}


class _Duration(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            self.fail(f"{value!r} is not a duration like 90s, 10m or 1h30m", param, ctx)
        return timedelta(seconds=sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))


class _Partitions(click.ParamType):
    name = "partitions"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[Partition, ...]:
        if isinstance(value, tuple):
            return value
        try:
            return tuple(Partition.parse(part) for part in str(value).split(",") if part.strip())
        except ValueError as error:
            self.fail(str(error), param, ctx)


def _rate(name: str, help_text: str) -> Callable[[_F], _F]:
    return click.option(
        f"--{name.replace('_', '-')}",
        name,
        type=click.FloatRange(0, 1),
        default=_DEFAULTS[name],
        show_default=True,
        help=help_text,
    )


@click.command("generate")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed and options, same bytes.")
@click.option("--start", help="UTC ISO time of the stream's start.  [default: now minus the duration]")
@click.option("--duration", type=_Duration(), default="10m", show_default=True, help="e.g. 90s, 10m, 1h30m.")
@click.option("--workers", type=click.IntRange(min=1), default=_DEFAULTS["workers"], show_default=True)
@click.option(
    "--jobs-per-second", type=click.FloatRange(min=0), default=_DEFAULTS["jobs_per_second"], show_default=True
)
@_rate("ai_share", "Share of jobs that are AI; the transcode partitions share the rest.")
@click.option(
    "--churn",
    "churn_per_hour",
    type=click.FloatRange(min=0),
    default=_DEFAULTS["churn_per_hour"],
    show_default=True,
    help="Drops and reconnects per worker connection per hour.",
)
@click.option(
    "--resets",
    "resets_per_hour",
    type=click.FloatRange(min=0),
    default=_DEFAULTS["resets_per_hour"],
    show_default=True,
    help="Orchestrator restarts per partition per hour (besides the one each stream starts with).",
)
@_rate("late_rate", "Share of files uploaded after later files of their partition.")
@_rate("duplicate_rate", "Share of files uploaded twice, identical.")
@_rate("unmatched_rate", "Share of AI jobs with only one half emitted.")
@_rate("malformed_rate", "Malformed events per well-formed event.")
@_rate("broken_file_rate", "Share of files that are truncated JSON or `null`.")
@click.option("--flush-seconds", type=click.IntRange(min=1), default=_DEFAULTS["flush_seconds"], show_default=True)
@click.option("--flush-threshold", type=click.IntRange(min=1), default=_DEFAULTS["flush_threshold"], show_default=True)
@click.option(
    "--partitions",
    type=_Partitions(),
    default=",".join(str(partition) for partition in _DEFAULTS["partitions"]),
    show_default=True,
    help="Comma-separated region/node_type.",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write the files under this folder.")
@click.option("--s3", "to_s3", is_flag=True, help="Upload to S3_BUCKET at S3_ENDPOINT (created if missing).")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), help="Write the manifest (JSON) here.")
def generate_command(
    seed: int,
    start: str | None,
    duration: timedelta,
    out: Path | None,
    to_s3: bool,
    manifest: Path | None,
    **options: Any,
) -> None:
    """Generate a pool's orchestrator event files, exactly as the emitter writes them to S3."""
    if out is None and not to_s3 and manifest is None:
        raise click.UsageError("say where to: --out DIR, --s3 and/or --manifest FILE")
    try:
        config = GeneratorConfig(start=_start(start, duration), duration=duration, **options)
    except GeneratorConfigError as error:
        raise click.UsageError(str(error)) from None
    began = time.perf_counter()
    dataset = generate(config, seed)
    took = time.perf_counter() - began
    summary = dataset.manifest
    click.echo(
        f"generated {len(summary.files)} files ({len(dataset.uploads)} uploads), {dataset.emitted_events} events "
        f"({summary.accepted_events} valid, {summary.rejected_elements} rejections), "
        f"{dataset.size / 1e6:.1f} MB in {took:.2f} s; {len(summary.late_files)} late, "
        f"{len(summary.duplicated_files)} duplicated, {len(summary.unmatched_ai_halves)} unmatched AI halves"
    )
    if out is not None:
        write_folder(dataset, out)
        click.echo(f"wrote {out}")
    if to_s3:
        settings = load_settings()
        asyncio.run(upload(dataset, settings))
        click.echo(f"uploaded to s3://{settings.s3_bucket} at {settings.s3_endpoint}")
    if manifest is not None:
        write_manifest(dataset, manifest)
        click.echo(f"wrote {manifest}")


def _start(text: str | None, duration: timedelta) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(microsecond=0) - duration
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO time", param_hint="--start") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
