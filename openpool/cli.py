"""The `openpool` command. Each sub-command lives with the part it drives; this module only assembles them."""

from __future__ import annotations

import sys

import click

from openpool.settings import SettingsError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SettingsError as error:  # a taken port (openpool.ports.PortTaken) included
            command = " ".join(filter(None, ("openpool", ctx.invoked_subcommand)))
            click.echo(f"{command}: {error}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="openpool-stream")
def main() -> None:
    """OpenPool Stream: S3 event files to Kafka, live worker state, WAL-first ETH payouts."""


def _not_yet(name: str, issue: str) -> click.Command:
    @click.command(name=name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def command() -> None:
        click.echo(f"openpool {name}: not yet available ({issue})", err=True)
        sys.exit(2)

    command.help = f"Not yet available: {issue}."
    return command


def _register() -> None:
    from openpool.stack.cli import stack

    main.add_command(stack)
    from bridge.cli import bridge
    from stream_app.cli import run, worker

    main.add_command(bridge)
    main.add_command(run)
    main.add_command(worker)
    from openpool.generator.cli import generate_command

    main.add_command(generate_command)
    from payments.cli import payments

    main.add_command(payments)
    from openpool.demo.cli import demo_command

    main.add_command(demo_command)
    from openpool.bench.cli import bench_command, soak_command

    main.add_command(bench_command)
    main.add_command(soak_command)
    from openpool.replay.cli import replay

    main.add_command(replay)
    from openpool.dlq.cli import dlq

    main.add_command(dlq)
    for name, issue in [
        ("run", "stream app issue"),
        ("bridge", "bridge issue"),
        ("worker", "stream app issue"),
        ("payments", "payments issue"),
        ("replay", "replay issue"),
        ("dlq", "reliability issue"),
        ("generate", "demo issue"),
        ("demo", "demo issue"),
        ("bench", "demo issue"),
    ]:
        if name not in main.commands:
            main.add_command(_not_yet(name, issue))


_register()


if __name__ == "__main__":
    main()
