"""`openpool bridge`: publish the S3 event files to Kafka, continuously or once."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import timedelta
from wsgiref.simple_server import WSGIServer

import click

from bridge.archive import ArchiveConfigurationError
from bridge.service import BridgeOptions, BridgeReadiness, run_bridge
from openpool import health_endpoint
from openpool.logs import configure_logging
from openpool.settings import Settings, load_settings

log = logging.getLogger(__name__)


@click.command()
@click.option("--once", is_flag=True, help="Publish what is in the bucket now, then exit (1 if files were left).")
@click.option(
    "--lookback-seconds",
    type=click.FloatRange(min=0),
    default=3600.0,
    show_default=True,
    help="How far before the newest published file a normal poll starts listing.",
)
@click.option(
    "--sweep-interval-seconds",
    type=click.FloatRange(min=0),
    default=3600.0,
    show_default=True,
    help="How often a poll lists every prefix in full, to catch files later than the lookback.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port of /metrics, /healthz and /readyz when running continuously (default OPENPOOL_METRICS_PORT; "
    "0 disables).",
)
def bridge(once: bool, lookback_seconds: float, sweep_interval_seconds: float, metrics_port: int | None) -> None:
    """S3 event files -> Kafka: every event once in the events topic, refusals in the dead-letter topic."""
    configure_logging()
    settings = load_settings()
    options = BridgeOptions(
        lookback=timedelta(seconds=lookback_seconds), sweep_interval=timedelta(seconds=sweep_interval_seconds)
    )
    port = settings.metrics_port if metrics_port is None else metrics_port
    setting = "OPENPOOL_METRICS_PORT" if metrics_port is None else "--metrics-port"
    health = health_endpoint.claim(0 if once else port, setting=setting)  # a taken port stops it here
    try:
        status = asyncio.run(_run(settings, options, once, health))
    except ArchiveConfigurationError as error:
        click.echo(f"openpool bridge: {error}", err=True)
        sys.exit(2)
    except Exception:
        log.exception("bridge stopped by an error")
        sys.exit(1)
    sys.exit(status)


async def _run(settings: Settings, options: BridgeOptions, once: bool, health: WSGIServer | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    readiness = BridgeReadiness()
    async with health_endpoint.serving(health, readiness.conditions):
        return await run_bridge(settings, options, once=once, stop=stop, readiness=readiness)
