"""Fault injection for the crash-loop test: one payout round that dies at a named step boundary.

    python -m payments.crash_drill --crash-at signed [--occurrence 2] [--pause-before-first-write 5]

The round is the real one (`payout_round`, the Kafka WAL, the chain); only its WAL sink is wrapped.
The process ends with `os._exit` — no cleanup, no flush, no producer close — as abruptly as SIGKILL,
at the `occurrence`-th time the round reaches the step:

    intent     the INTENT record is durable; nothing is signed yet
    signed     the SIGNED record is durable; the transaction is not broadcast
    broadcast  the node accepted the transaction; BROADCAST is not recorded
    confirmed  the receipt was seen; CONFIRMED is not recorded

`--pause-before-first-write` holds the round just before its first WAL write, after it took the WAL
over: the window in which a second payer starting up fences this one.

Exit status: 86 crashed as asked; otherwise that of `openpool payments run --once`.
"""

from __future__ import annotations

import asyncio
import os
import sys

import click

from openpool.logs import configure_logging
from openpool.settings import load_settings
from payments.cli import EXIT_STOPPED, current_earnings, echo_round, run_async
from payments.payout_round import RoundReport, payout_round
from payments.wal import PayoutState, WalRecord
from payments.wal_sink import WalSink

CRASH_EXIT = 86

# step -> (the record whose append marks it, whether the crash comes after that append or before it)
STEPS: dict[str, tuple[PayoutState, bool]] = {
    "intent": (PayoutState.INTENT, True),
    "signed": (PayoutState.SIGNED, True),
    "broadcast": (PayoutState.BROADCAST, False),
    "confirmed": (PayoutState.CONFIRMED, False),
}


class CrashingSink:
    def __init__(self, inner: WalSink, step: str | None, occurrence: int, pause_seconds: float) -> None:
        self._inner = inner
        self._state: PayoutState | None = None
        self._after = False
        if step is not None:
            self._state, self._after = STEPS[step]
        self._left = occurrence
        self._pause_seconds = pause_seconds

    async def append(self, record: WalRecord) -> None:
        if self._pause_seconds:
            click.echo("crash drill: paused before the first WAL write", err=True)
            await asyncio.sleep(self._pause_seconds)
            self._pause_seconds = 0
        hit = record.state is self._state
        if hit:
            self._left -= 1
        if hit and not self._left and not self._after:
            self._crash(record)
        await self._inner.append(record)
        if hit and not self._left and self._after:
            self._crash(record)

    def _crash(self, record: WalRecord) -> None:
        sys.stderr.write(f"crash drill: exiting at {record.state.value} of {record.payout_id}\n")
        sys.stderr.flush()
        os._exit(CRASH_EXIT)


@click.command()
@click.option("--crash-at", type=click.Choice(sorted(STEPS)), default=None, help="The step boundary to die at.")
@click.option("--occurrence", type=click.IntRange(min=1), default=1, help="Die the n-th time the step is reached.")
@click.option("--pause-before-first-write", type=click.FloatRange(min=0), default=0.0, help="Seconds to hold.")
def main(crash_at: str | None, occurrence: int, pause_before_first_write: float) -> None:
    """One payout round that dies at a named step (test drills only)."""
    configure_logging()
    settings = load_settings()

    async def round_() -> RoundReport:
        earnings = await current_earnings(settings)
        return await payout_round(
            settings,
            earnings,
            wrap_sink=lambda wal: CrashingSink(wal, crash_at, occurrence, pause_before_first_write),
        )

    report = run_async(round_)
    echo_round(report)
    sys.exit(0 if report.outcome in ("completed", "kill_switch") else EXIT_STOPPED)


if __name__ == "__main__":
    main()
