from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from openpool.domain.payouts import PayoutIntent, PayoutPlan, payout_id
from payments.chain import Chain, ChainError, ChainUnavailable, SendStatus, classify_send_error
from payments.payer import Payer, PayerConfig, StopReason
from payments.signer import Signer
from payments.wal import ledger_from_wal
from payments.wal_sink import InMemoryWal

DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
RAW_TX = "0x02f86b82a4b18080843b9aca00825208940000000000000000000000000000000000000000000180c0"


class FlakyNode:
    """A JSON-RPC endpoint that fails every request (502, or a JSON-RPC error once `answers_errors`) and counts
    them per method."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.url = ""
        self.answers_errors = False

    async def handle(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        self.calls[body["method"]] = self.calls.get(body["method"], 0) + 1
        if self.answers_errors:  # what a node behind a load balancer answers while its upstream is away
            error = {"code": -32603, "message": "internal error: upstream node unavailable"}
            return web.json_response({"jsonrpc": "2.0", "id": body["id"], "error": error})
        return web.Response(status=502, text="bad gateway")


@pytest.fixture
async def flaky_node() -> AsyncIterator[FlakyNode]:
    node = FlakyNode()
    app = web.Application()
    app.router.add_post("/", node.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    node.url = f"http://127.0.0.1:{port}/"
    yield node
    await runner.cleanup()


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ("already known", SendStatus.ALREADY_KNOWN),  # geth
        ("transaction already imported", SendStatus.ALREADY_KNOWN),  # anvil
        ("nonce too low: next nonce 5, tx nonce 4", SendStatus.NONCE_TOO_LOW),
        ("replacement transaction underpriced", SendStatus.UNDERPRICED),
        ("insufficient funds for gas * price + value", SendStatus.REJECTED),
        ("max fee per gas less than block base fee", SendStatus.REJECTED),
    ],
)
def test_node_answers_to_a_send_are_typed_outcomes(message: str, status: SendStatus) -> None:
    assert classify_send_error(message) is status


async def test_reads_are_tried_three_times_then_fail_typed(flaky_node: FlakyNode) -> None:
    async with Chain(flaky_node.url, backoff_seconds=0.01) as chain:
        with pytest.raises(ChainUnavailable, match="eth_getBalance: no answer after 3 tries"):
            await chain.balance_wei("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")

    assert flaky_node.calls == {"eth_getBalance": 3}


async def test_reads_answered_with_a_json_rpc_error_are_retried_then_fail_typed(flaky_node: FlakyNode) -> None:
    # The payer exited with a traceback when the node answered -32603 to eth_getBalance (seed 11 fault loop).
    flaky_node.answers_errors = True
    async with Chain(flaky_node.url, backoff_seconds=0.01) as chain:
        with pytest.raises(ChainUnavailable, match=r"eth_getBalance: no answer after 3 tries .*upstream node"):
            await chain.balance_wei("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        with pytest.raises(ChainError, match="upstream node unavailable"):
            await chain.estimate_gas(DEV_ADDRESS, DEV_ADDRESS, 1)

    assert flaky_node.calls["eth_getBalance"] == 3
    assert sum(flaky_node.calls.values()) == 4, "a gas estimate's error is its answer, not retried"


async def test_a_failed_send_is_never_retried_and_reports_an_unknown_outcome(flaky_node: FlakyNode) -> None:
    async with Chain(flaky_node.url, backoff_seconds=0.01) as chain:
        outcome = await chain.send_raw_transaction(RAW_TX)

    assert outcome.status is SendStatus.UNKNOWN
    assert flaky_node.calls == {"eth_sendRawTransaction": 1}


def test_the_chain_repr_hides_the_rpc_url() -> None:
    assert "secret-api-key" not in repr(Chain("https://arb1.example/v2/secret-api-key"))


async def test_the_kill_switch_stops_a_payer_before_it_touches_the_chain(flaky_node: FlakyNode) -> None:
    signer = Signer.load(DEV_KEY)
    payee = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    plan = PayoutPlan((PayoutIntent(payout_id(payee, 1), payee, 10**16, 1),))
    config = PayerConfig(chain_id=42161, max_fee_cap_wei=10**12, gas_limit=10**6, kill_switch=True)
    wal = InMemoryWal()

    async with Chain(flaky_node.url) as chain:
        run = await Payer(chain, signer, wal, config, ledger_from_wal(())).pay(plan)

    assert run.stop is not None and run.stop.reason is StopReason.KILL_SWITCH
    assert wal.records == ()
    assert flaky_node.calls == {}
