"""`openpool worker` (one stream worker) and `openpool run` (bridge + stream app + exports in one process)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import click

from bridge.service import BridgeOptions, run_bridge
from openpool.logs import configure_logging
from openpool.settings import load_settings
from stream_app import worker as stream_worker


@click.command()
def worker() -> None:
    """Run one stream worker; several share the partitions of the events and attributed-jobs topics."""
    configure_logging()
    stream_worker.run(load_settings())


@click.command()
@click.option("--until-idle", is_flag=True, help="Exit 0 once every S3 file is processed and exports are written.")
def run(until_idle: bool) -> None:
    """Run the bridge, the stream app and the exporters in one process."""
    configure_logging()
    settings = load_settings()
    options = BridgeOptions(lookback=timedelta(hours=1), sweep_interval=timedelta(hours=1))
    never = asyncio.Event()

    async def bridge_until_published() -> bool:
        return await run_bridge(settings, options, once=True, stop=never) == 0

    if until_idle:
        stream_worker.run(settings, until_idle=True, before_idle=bridge_until_published)
    else:
        stream_worker.run(settings, bridge=lambda: run_bridge(settings, options, once=False, stop=never))
