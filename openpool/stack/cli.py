"""`openpool stack`: install and run the local Kafka, S3 and Ethereum services, without Docker.

Human-readable progress goes to stderr; `up` prints only KEY=VALUE lines on stdout, so its output can
be sourced or captured as it is.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from openpool.settings import STACK_ENV_FILE
from openpool.stack import installation
from openpool.stack.env_file import render_env, write_env_file
from openpool.stack.errors import StackError
from openpool.stack.services import (
    DEFAULT_STACK_DIR,
    DEFAULT_TOOLS_DIR,
    START_TIMEOUT_SECONDS,
    LocalStack,
    ServiceStatus,
    StackPorts,
)

_DEFAULT_PORTS = StackPorts()
F = TypeVar("F", bound=Any)


class _StackGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except StackError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=_StackGroup)
def stack() -> None:
    """The local services (Kafka, S3, Ethereum) on 127.0.0.1, without Docker."""
    logger = logging.getLogger("openpool.stack")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("openpool stack: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _stack_dir_option(function: F) -> F:
    option = click.option(
        "--stack-dir",
        envvar="OPENPOOL_STACK_DIR",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_STACK_DIR,
        show_default=True,
        show_envvar=True,
        help="Pid records, logs, Kafka's data and the payer's dev keystore.",
    )
    return option(function)


def _tools_dir_option(function: F) -> F:
    option = click.option(
        "--tools-dir",
        envvar="OPENPOOL_STACK_TOOLS_DIR",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_TOOLS_DIR,
        show_default=True,
        show_envvar=True,
        help="Where anvil is installed and the install manifest is kept.",
    )
    return option(function)


def _port_option(name: str, envvar: str, default: int, help_text: str) -> Callable[[F], F]:
    return click.option(
        name,
        envvar=envvar,
        type=click.IntRange(1, 65535),
        default=default,
        show_default=True,
        show_envvar=True,
        help=help_text,
    )


@stack.command()
@_tools_dir_option
@click.option(
    "--cache-home",
    envvar="XDG_CACHE_HOME",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: Path.home() / ".cache",
    show_default="~/.cache",
    show_envvar=True,
    help="The Kafka jars go to <cache-home>/openpool/kafka-<version>, shared by every checkout.",
)
def install(tools_dir: Path, cache_home: Path) -> None:
    """Fetch the Kafka jars (Maven Central) and anvil (npm); a no-op when both are there."""
    started = time.monotonic()
    installation.install(tools_dir, cache_home / "openpool")
    click.echo(f"openpool stack: tools installed ({time.monotonic() - started:.2f} s)", err=True)


@stack.command()
@_stack_dir_option
@_tools_dir_option
@_port_option("--kafka-port", "OPENPOOL_STACK_KAFKA_PORT", _DEFAULT_PORTS.kafka, "Kafka's client port.")
@_port_option(
    "--kafka-controller-port",
    "OPENPOOL_STACK_KAFKA_CONTROLLER_PORT",
    _DEFAULT_PORTS.kafka_controller,
    "Kafka's KRaft controller port.",
)
@_port_option("--s3-port", "OPENPOOL_STACK_S3_PORT", _DEFAULT_PORTS.s3, "moto's S3 port.")
@_port_option("--anvil-port", "OPENPOOL_STACK_ANVIL_PORT", _DEFAULT_PORTS.anvil, "anvil's JSON-RPC port.")
@click.option(
    "--env-file",
    envvar="OPENPOOL_STACK_ENV_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    default=STACK_ENV_FILE,
    show_default=True,
    show_envvar=True,
    help="Where to write the connection settings (openpool.settings reads the default one).",
)
@click.option("--fresh", is_flag=True, help="Drop the topics of earlier runs if Kafka has to be started.")
@click.option("--timeout", type=float, default=START_TIMEOUT_SECONDS, show_default=True, help="Seconds to wait.")
def up(
    stack_dir: Path,
    tools_dir: Path,
    kafka_port: int,
    kafka_controller_port: int,
    s3_port: int,
    anvil_port: int,
    env_file: Path,
    fresh: bool,
    timeout: float,
) -> None:
    """Start whatever is not running, wait until all answer, print and write the connection settings."""
    ports = StackPorts(kafka=kafka_port, kafka_controller=kafka_controller_port, s3=s3_port, anvil=anvil_port)
    result = LocalStack(stack_dir, ports, tools_dir).up(fresh=fresh, timeout=timeout)
    values = result.endpoints.as_env()
    write_env_file(env_file, values)
    if not result.started:
        click.echo("openpool stack: already up, nothing started", err=True)
    click.echo(render_env(values), nl=False)


@stack.command()
@_stack_dir_option
def status(stack_dir: Path) -> None:
    """Show each service; exit 0 only if all run and answer."""
    statuses = LocalStack(stack_dir).status()
    for service in statuses:
        click.echo(_status_line(service))
    if not all(service.running and service.answers for service in statuses):
        sys.exit(1)


@stack.command()
@_stack_dir_option
@click.option("--timeout", type=float, default=20.0, show_default=True, help="Seconds before SIGKILL.")
def down(stack_dir: Path, timeout: float) -> None:
    """Stop the services this stack dir started (SIGTERM, then SIGKILL); a no-op if none runs."""
    stopped = LocalStack(stack_dir).down(timeout=timeout)
    if not stopped:
        click.echo("openpool stack: nothing was running", err=True)


def _status_line(service: ServiceStatus) -> str:
    ports = ",".join(str(port) for port in service.ports)
    if not service.running:
        return f"{service.name:<6} stopped  ports={ports}"
    answers = "yes" if service.answers else "no"
    return f"{service.name:<6} running  pid={service.pid} ports={ports} {service.endpoint} answers={answers}"
