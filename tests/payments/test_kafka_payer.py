"""The payer through its Kafka WAL, on a real broker and a real anvil: paid once, fenced, restartable."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import threading
from datetime import UTC, datetime
from typing import IO, Any

import pytest
from aiobotocore.session import get_session
from aiokafka import AIOKafkaProducer

from openpool.domain.payouts import PayoutIntent, payout_id
from payments.audit import payment_history
from payments.earnings import load_earnings
from payments.kafka_wal import PayerFenced, WalUnreadable, open_payout_wal, read_wal
from payments.payer import StopReason
from payments.payout_round import payout_round
from payments.signer import Signer
from payments.wal import PayoutState, ledger_from_wal, new_intent
from tests.payments.anvil_control import AnvilControl
from tests.payments.payer_env import CLI, PayerEnv

pytestmark = pytest.mark.integration

ETH = 10**18


def wait_for_line(stream: IO[str], text: str, timeout: float = 30) -> list[str]:
    """Lines of `stream` up to the first containing `text`; the rest is left for `communicate`."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
            if text in line:
                return

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    while not seen or text not in seen[-1]:
        seen.append(lines.get(timeout=timeout))
    return seen


async def audit_objects(payer: PayerEnv) -> dict[str, Any]:
    settings = payer.settings()
    async with get_session().create_client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        region_name=settings.aws_region,
        aws_access_key_id="k",
        aws_secret_access_key="s",
    ) as s3:
        listed = await s3.list_objects_v2(Bucket=settings.s3_metrics_bucket, Prefix=settings.payout_audit_prefix)
        objects = {}
        for item in listed.get("Contents", []):
            body = await (await s3.get_object(Bucket=settings.s3_metrics_bucket, Key=item["Key"]))["Body"].read()
            objects[item["Key"]] = json.loads(body)
        return objects


async def test_earnings_are_paid_exactly_once_through_the_kafka_wal_and_a_restarted_payer_sends_nothing(
    anvil: AnvilControl, payer: PayerEnv, payer_signer: Signer, payees: list[str]
) -> None:
    earnings = {payees[0]: 3 * ETH // 100, payees[1]: 2 * ETH // 100, payees[2]: ETH // 200}
    await payer.publish_earnings(earnings)
    start = await anvil.block_number()
    settings = payer.settings()

    first = await payout_round(settings, await load_earnings(settings))
    second = await payout_round(settings, await load_earnings(settings))
    restarted = payer.cli("run", "--once")
    status = payer.cli("status", "--json")

    assert first.outcome == "completed"
    assert {r.address: r.state for r in first.paid.records} == {  # type: ignore[union-attr]
        payees[0]: PayoutState.CONFIRMED,
        payees[1]: PayoutState.CONFIRMED,
    }
    assert [await anvil.balance(p) for p in payees] == [3 * ETH // 100, 2 * ETH // 100, 0]
    assert second.outcome == "completed" and second.touched == ()
    assert restarted.returncode == 0, restarted.stderr
    assert "paid " not in restarted.stdout and "round completed" in restarted.stdout
    assert await anvil.successful_transfers(payer_signer.address, start) == {
        payees[0].lower(): 1,
        payees[1].lower(): 1,
    }
    wal = await payer.wal()
    assert [r.state for r in wal if r.address == payees[0]] == [
        PayoutState.INTENT,
        PayoutState.SIGNED,
        PayoutState.BROADCAST,
        PayoutState.CONFIRMED,
    ]
    assert status.returncode == 0, status.stderr
    by_address = {row["address"]: row for row in json.loads(status.stdout)["addresses"]}
    assert by_address[payees[0]]["confirmed_wei"] == 3 * ETH // 100 and by_address[payees[0]]["unpaid_wei"] == 0
    assert by_address[payees[2]]["unpaid_wei"] == ETH // 200 and by_address[payees[2]]["open_payouts"] == []
    audits = await audit_objects(payer)
    assert sorted(audits) == sorted(f"{settings.payout_audit_prefix}{payout_id(p, 1)}.json" for p in payees[:2])
    for document in audits.values():
        assert document["status"] == "completed" and isinstance(document["amount"], int)
        assert document["transaction_hash"].startswith("0x") and document["blockchain_details"]["gas_used"] > 0


async def test_a_payer_fenced_by_a_newer_one_writes_nothing_more_and_the_newer_one_reads_all_it_committed(
    payer: PayerEnv, payees: list[str]
) -> None:
    settings = payer.settings()
    now = datetime.now(UTC)

    def intent(address: str) -> Any:
        return new_intent(PayoutIntent(payout_id(address, 1), address, ETH // 100, 1), now)

    async with open_payout_wal(settings) as older:
        await older.append(intent(payees[0]))
        async with open_payout_wal(settings) as newer:
            with pytest.raises(PayerFenced, match="another payer took over"):
                await older.append(intent(payees[1]))
            await newer.append(intent(payees[2]))
            seen_by_newer = newer.records

    assert [r.address for r in seen_by_newer] == [payees[0], payees[2]]
    assert [r.address for r in await payer.wal()] == [payees[0], payees[2]]


async def test_two_payers_started_at_once_only_one_sends_and_the_other_stops_fenced_before_any_broadcast(
    anvil: AnvilControl, payer: PayerEnv, payer_signer: Signer, payees: list[str]
) -> None:
    earnings = {payees[0]: 2 * ETH // 100, payees[1]: ETH // 100}
    await payer.publish_earnings(earnings)
    start = await anvil.block_number()

    # Long enough for the second payer to start and take the WAL over on a loaded machine (interpreter and
    # web3 import alone took over 3 s at load 6); the first is fenced whenever it resumes.
    first = payer.drill("--pause-before-first-write", "15")
    assert first.stderr is not None
    wait_for_line(first.stderr, "paused before the first WAL write")
    second = payer.cli("run", "--once")
    first_out, first_err = first.communicate(timeout=60)

    assert second.returncode == 0, second.stderr
    assert first.returncode == 3, first_err
    assert "fenced" in first_err and "paid" not in first_out
    assert await anvil.successful_transfers(payer_signer.address, start) == {
        payees[0].lower(): 1,
        payees[1].lower(): 1,
    }
    assert await anvil.nonce(payer_signer.address, "pending") == 2
    assert [await anvil.balance(p) for p in payees[:2]] == [2 * ETH // 100, ETH // 100]
    assert sum(1 for r in await payer.wal() if r.state is PayoutState.SIGNED) == 2


async def test_an_undecodable_wal_record_stops_the_payer_instead_of_being_skipped(
    anvil: AnvilControl, payer: PayerEnv, payer_signer: Signer, payees: list[str]
) -> None:
    await payer.publish_earnings({payees[0]: ETH // 10})
    settings = payer.settings()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    await producer.send_and_wait(settings.topics.payout_wal, key=b"po-x-1", value=b"{not json")
    await producer.stop()

    with pytest.raises(WalUnreadable, match=r"payout-wal\[0\]@0"):
        await read_wal(settings.kafka_bootstrap_servers, settings.topics.payout_wal)
    with pytest.raises(WalUnreadable):
        await payout_round(settings, {payees[0]: ETH // 10})
    status = payer.cli("status")

    assert status.returncode == 4 and "undecodable WAL record" in status.stderr
    assert await anvil.nonce(payer_signer.address, "pending") == 0


async def test_with_the_kill_switch_on_a_round_plans_but_sends_and_records_nothing(
    anvil: AnvilControl, payer: PayerEnv, payer_signer: Signer, payees: list[str]
) -> None:
    earnings = {payees[0]: 2 * ETH // 100, payees[1]: ETH // 100}
    await payer.publish_earnings(earnings)
    settings = payer.settings(OPENPOOL_PAYOUTS_KILL_SWITCH="true")

    report = await payout_round(settings, await load_earnings(settings))
    planned = payer.cli("plan", OPENPOOL_PAYOUTS_KILL_SWITCH="true")

    assert report.outcome == "kill_switch" and report.stop is not None
    assert report.stop.reason is StopReason.KILL_SWITCH
    assert [(i.address, i.amount_wei) for i in report.would_pay.intents] == list(earnings.items())
    assert await payer.wal() == ()
    assert await anvil.nonce(payer_signer.address, "pending") == 0
    assert [await anvil.balance(p) for p in payees[:2]] == [0, 0]
    assert planned.returncode == 0, planned.stderr
    assert "kill switch ON" in planned.stdout and "would pay 2 payout(s)" in planned.stdout


def _audit_file(payments: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "timestamp": "2025-11-05T15:30:00",
            "node_type": "transcode",
            "region": "us-central",
            "payment_count": len(payments),
            "total_payment_amount": sum(p["amount"] for p in payments),
            "payment_threshold_wei": 10**16,
            "payments": payments,
        }
    )


def _event(payment_id: str, address: str, amount: int, timestamp: str, status: str, tx: str | None) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "eth_address": address.lower(),
        "amount": amount,
        "timestamp": timestamp,
        "transaction_hash": tx,
        "status": status,
    }


async def test_importing_the_predecessors_history_twice_is_idempotent_and_nobody_in_it_is_paid_again(
    anvil: AnvilControl, payer: PayerEnv, payer_signer: Signer, payees: list[str]
) -> None:
    history = payer.cwd / "history"
    history.mkdir()
    (history / "payments_transcode_us-central_20251105_153000.json").write_text(
        _audit_file(
            [
                _event("pmt_20251105_aaaaaa", payees[0], 2 * ETH // 100, "2025-11-05T15:30:01", "completed", "ab" * 32),
                _event("pmt_20251105_bbbbbb", payees[1], ETH // 100, "2025-11-05T15:30:02", "completed", "cd" * 32),
                _event("pmt_20251105_cccccc", payees[2], ETH // 100, "2025-11-05T15:30:03", "error", "ef" * 32),
            ]
        )
    )
    (history / "payments_ai_us-central_20251106_153000.json").write_text(
        _audit_file(
            [_event("pmt_20251106_dddddd", payees[0], ETH // 100, "2025-11-06T15:30:00", "completed", "0x" + "12" * 32)]
        )
    )
    (history / "worker_summary.json").write_text("{}")
    earnings = {payees[0]: 3 * ETH // 100, payees[1]: 3 * ETH // 100, payees[2]: 2 * ETH // 100}
    await payer.publish_earnings(earnings)
    start = await anvil.block_number()

    first = payer.cli("import-history", str(history))
    second = payer.cli("import-history", str(history))
    settings = payer.settings()
    report = await payout_round(settings, await load_earnings(settings))

    assert first.returncode == 0, first.stderr
    assert "imported 3 completed payment(s)" in first.stdout and "1 not completed" in first.stdout
    assert "check on chain: pmt_20251105_cccccc" in first.stderr
    assert second.returncode == 0, second.stderr
    assert "imported 0 completed payment(s)" in second.stdout and "3 already imported" in second.stdout
    imported = [r for r in await payer.wal() if r.state is PayoutState.RESOLVED_PAID]
    assert [(r.address, r.seq, r.amount_wei) for r in imported] == sorted(
        [(payees[0], 1, 2 * ETH // 100), (payees[0], 2, ETH // 100), (payees[1], 1, ETH // 100)]
    )
    assert {(r.address, r.seq, r.amount_wei) for r in report.paid.records} == {  # type: ignore[union-attr]
        (payees[1], 2, 2 * ETH // 100),
        (payees[2], 1, 2 * ETH // 100),
    }
    assert await anvil.successful_transfers(payer_signer.address, start) == {
        payees[1].lower(): 1,
        payees[2].lower(): 1,
    }
    history_of = payment_history(report.ledger.records.values())
    assert [(e["amount"], e["transaction_hash"], e["status"]) for e in history_of[payees[0]]] == [
        (2 * ETH // 100, "0x" + "ab" * 32, "completed"),
        (ETH // 100, "0x" + "12" * 32, "completed"),
    ]
    assert history_of[payees[0]][0]["timestamp"].startswith("2025-11-05T15:30:01")
    assert ledger_from_wal(await payer.wal()).confirmed_wei == earnings


async def test_an_unreachable_rpc_endpoint_records_and_sends_nothing_and_the_next_round_pays_once(
    anvil: AnvilControl, payer: PayerEnv, payer_signer: Signer, payees: list[str]
) -> None:
    await payer.publish_earnings({payees[0]: 3 * ETH // 100})
    start = await anvil.block_number()
    with socket.socket() as probe:  # a port nobody listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        dead_rpc = f"http://127.0.0.1:{probe.getsockname()[1]}"

    down = payer.cli("run", "--once", ETH_RPC_ENDPOINT=dead_rpc)
    records_while_down = await payer.wal()
    up = payer.cli("run", "--once")

    assert down.returncode == 4, down.stderr  # the chain is unusable: nothing was attempted
    assert "ChainUnavailable" in down.stderr and "Traceback" not in down.stderr
    assert records_while_down == ()
    assert up.returncode == 0, up.stderr
    assert await anvil.successful_transfers(payer_signer.address, start) == {payees[0].lower(): 1}
    assert await anvil.balance(payees[0]) == 3 * ETH // 100


def _dead_port() -> int:
    with socket.socket() as probe:  # a port nobody listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_broker_at_start_is_a_typed_exit_not_a_traceback(payer: PayerEnv) -> None:
    # The payer exited 1 with a traceback when the broker was down at its start (seed 11 fault loop).
    down = payer.cli("run", "--once", KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{_dead_port()}")

    assert down.returncode == 4, down.stderr
    assert "WalUnavailable" in down.stderr and "Traceback" not in down.stderr


async def test_a_running_payer_waits_out_an_unreachable_node_and_then_pays_once(
    anvil: AnvilControl, payer: PayerEnv, payer_signer: Signer, payees: list[str]
) -> None:
    await payer.publish_earnings({payees[0]: 3 * ETH // 100})
    start = await anvil.block_number()
    running = subprocess.Popen(
        [*CLI, "run"],
        env=payer.env(ETH_RPC_ENDPOINT=f"http://127.0.0.1:{_dead_port()}", PAYMENT_SENSOR_INTERVAL_SECONDS="0.5"),
        cwd=payer.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert running.stderr is not None
        wait_for_line(running.stderr, "round not run, retried later: ChainUnavailable")
        wait_for_line(running.stderr, "round not run, retried later: ChainUnavailable")
        assert running.poll() is None, "the payer exited on an outage it should wait out"
    finally:
        running.terminate()
        running.communicate(timeout=30)
    assert await payer.wal() == ()

    up = payer.cli("run", "--once")

    assert up.returncode == 0, up.stderr
    assert await anvil.successful_transfers(payer_signer.address, start) == {payees[0].lower(): 1}
