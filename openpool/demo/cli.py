"""`openpool demo`: start the local stack, run a generated pool through bridge, stream app and payer, report."""

from __future__ import annotations

import asyncio
import sys

import click

from openpool.demo.pool import DemoPool
from openpool.demo.session import DemoOptions, run_demo
from openpool.pipeline_process import ProcessFailed, stack_up

_DEFAULT = DemoPool()


@click.command("demo")
@click.option("--minutes", type=click.FloatRange(min=0.1), default=_DEFAULT.minutes, show_default=True)
@click.option("--workers", type=click.IntRange(min=5), default=_DEFAULT.workers, show_default=True)
@click.option("--jobs-per-second", type=click.FloatRange(min=1), default=_DEFAULT.jobs_per_second, show_default=True)
@click.option("--seed", type=int, default=_DEFAULT.seed, show_default=True)
@click.option(
    "--paid-workers",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Set the payout threshold so that this many of the best-earning workers get paid.",
)
@click.option("--web-port", type=click.IntRange(1, 65535), default=6066, show_default=True, help="If free.")
@click.option("--keep-running", is_flag=True, help="Leave the pipeline and its API up afterwards (Ctrl-C stops).")
def demo_command(
    minutes: float,
    workers: int,
    jobs_per_second: float,
    seed: int,
    paid_workers: int,
    web_port: int,
    keep_running: bool,
) -> None:
    """Run a generated pool through the whole pipeline on the local stack and print what came out."""
    pool = DemoPool(minutes=minutes, workers=workers, jobs_per_second=jobs_per_second, seed=seed)
    options = DemoOptions(pool=pool, paid_workers=paid_workers, keep_running=keep_running, web_port=web_port)
    try:
        click.echo("Starting the local stack (Kafka, S3, anvil) ...")
        stack_up()
        asyncio.run(run_demo(options, click.echo))
    except ProcessFailed as error:
        click.echo(f"openpool demo: {error}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("openpool demo: stopped", err=True)
        sys.exit(130)
