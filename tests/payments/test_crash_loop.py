"""The payer killed over and over — at each step boundary and at random moments — never pays anyone twice.

Every run publishes earnings for fresh workers, starts a real payer process that dies (os._exit at a
named step, or SIGKILL from here at a random moment after it took the WAL over), then restarts a clean
`openpool payments run --once`. At the end the transfers in anvil's blocks are counted per payee.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter

import pytest
from eth_account import Account

from payments.crash_drill import CRASH_EXIT, STEPS
from payments.earnings import load_earnings
from payments.payout_round import payout_round
from payments.signer import Signer
from payments.wal import ledger_from_wal
from tests.payments.anvil_control import AnvilControl
from tests.payments.payer_env import PayerEnv
from tests.payments.test_kafka_payer import wait_for_line

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUNS = 60
PAYEES_PER_RUN = 3
RANDOM_KILL_EVERY = 3  # every third run is killed with SIGKILL at a random moment
ETH = 10**18


async def _landing(payer: PayerEnv, batch: dict[str, int]) -> str:
    """Where a random kill landed: how many of this run's payouts were confirmed, and the last state written."""
    records = [r for r in await payer.wal() if r.address in batch]
    if not records:
        return "before the first WAL write"
    confirmed = len({r.address for r in records if r.state.value == "confirmed"})
    return f"{confirmed}/{len(batch)} confirmed, last {records[-1].state.value}"


async def test_a_payer_killed_at_every_step_and_at_random_moments_pays_every_worker_exactly_once(
    anvil: AnvilControl, payer: PayerEnv, payer_signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(20261125)
    start = await anvil.block_number()
    owed: dict[str, int] = {}
    kills: Counter[str] = Counter()
    random_landings: Counter[str] = Counter()
    steps = sorted(STEPS)
    began = time.monotonic()

    for run in range(RUNS):
        batch = {Account.create().address: rng.randrange(ETH // 100, 5 * ETH // 100) for _ in range(PAYEES_PER_RUN)}
        owed.update(batch)
        await payer.publish_earnings(batch)
        if run % RANDOM_KILL_EVERY == RANDOM_KILL_EVERY - 1:
            victim = payer.drill()
            assert victim.stderr is not None
            wait_for_line(victim.stderr, "payout WAL opened")
            await asyncio.sleep(rng.uniform(0.0, 0.2))
            if victim.poll() is None:
                victim.send_signal(signal.SIGKILL)
                kills["sigkill"] += 1
                random_landings[await _landing(payer, batch)] += 1
            else:
                kills["sigkill came too late"] += 1
            victim.wait(timeout=30)
        else:
            step = steps[(run - run // RANDOM_KILL_EVERY) % len(steps)]
            occurrence = rng.randint(1, PAYEES_PER_RUN)
            victim = payer.drill("--crash-at", step, "--occurrence", str(occurrence))
            _, err = victim.communicate(timeout=60)
            assert victim.returncode == CRASH_EXIT, err[-2000:]
            kills[f"at {step}"] += 1
        restarted = payer.cli("run", "--once")
        assert restarted.returncode == 0, restarted.stderr[-2000:]

    settings = payer.settings()
    final = await payout_round(settings, await load_earnings(settings))
    transfers = await anvil.successful_transfers(payer_signer.address, start)
    doubles = {address: count - 1 for address, count in transfers.items() if count > 1}
    unpaid = [address for address in owed if address.lower() not in transfers]
    wrong = {a: b for a in owed if (b := await anvil.balance(a)) != owed[a]}
    with capsys.disabled():
        print(
            f"\ncrash loop: {RUNS} runs in {time.monotonic() - began:.0f} s, {len(owed)} workers; "
            f"kills {dict(sorted(kills.items()))}; random kills landed {dict(sorted(random_landings.items()))}; "
            f"double payments {sum(doubles.values())}; unpaid {len(unpaid)}"
        )

    assert final.touched == () and final.outcome == "completed"
    assert not doubles and not unpaid and not wrong
    assert ledger_from_wal(await payer.wal()).confirmed_wei == owed
    assert sum(kills[f"at {step}"] for step in steps) + kills["sigkill"] >= 50


async def test_payouts_per_minute_through_the_kafka_wal_on_anvil(
    anvil: AnvilControl, payer: PayerEnv, payer_signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    earnings = {Account.create().address: ETH // 100 + n for n in range(100)}
    await payer.publish_earnings(earnings)
    settings = payer.settings()
    loaded = await load_earnings(settings)

    began = time.monotonic()
    report = await payout_round(settings, loaded)
    elapsed = time.monotonic() - began

    per_minute = len(earnings) * 60 / elapsed
    with capsys.disabled():
        print(f"\nthroughput: {len(earnings)} payouts in {elapsed:.1f} s = {per_minute:.0f} payouts/min")
    assert report.outcome == "completed" and len(report.touched) == len(earnings)
    assert [await anvil.balance(a) for a in earnings] == list(earnings.values())
