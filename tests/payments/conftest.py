from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from openpool.stack.endpoints import StackEndpoints
from payments.chain import Chain
from payments.signer import Signer
from tests.payments.anvil_control import AnvilControl
from tests.payments.payer_env import PayerEnv


@pytest.fixture
async def anvil(eth_rpc: str) -> AsyncIterator[AnvilControl]:
    """The session's anvil, put back as it was after the test (blocks, balances, automine, base fee)."""
    async with aiohttp.ClientSession() as session:
        control = AnvilControl(eth_rpc, session)
        snapshot = await control.snapshot()
        base_fee = await control.base_fee()
        yield control
        await control.set_automine(True)
        await control.revert(snapshot)
        # A next-block base fee set by a test outlives the revert.
        await control.set_next_base_fee(base_fee)


@pytest.fixture
async def chain(eth_rpc: str) -> AsyncIterator[Chain]:
    async with Chain(eth_rpc) as connected:
        yield connected


def _seed(request: pytest.FixtureRequest, label: str) -> bytes:
    return keccak(f"{request.node.nodeid}/{label}".encode())


@pytest.fixture
def payer_key(request: pytest.FixtureRequest) -> str:
    return "0x" + _seed(request, "payer").hex()


@pytest.fixture
async def payer_signer(payer_key: str, anvil: AnvilControl) -> Signer:
    """A payer account no other test uses, holding 10 ETH."""
    signer = Signer.load(payer_key)
    await anvil.set_balance(signer.address, 10 * 10**18)
    return signer


@pytest.fixture
def payees(request: pytest.FixtureRequest) -> list[str]:
    """Fresh addresses with no balance, sorted so plans pay them in a known order when amounts are equal."""
    return sorted(Account.from_key(_seed(request, f"payee-{i}")).address for i in range(3))


@pytest.fixture
def payer(
    stack_endpoints: StackEndpoints, name_prefix: str, payer_key: str, payer_signer: Signer, tmp_path: Path
) -> PayerEnv:
    """A payer of its own app id (WAL and earnings topics, audit prefix) paying from `payer_signer`."""
    variables = stack_endpoints.as_env()
    variables.pop("ETH_KEYSTORE_PASSWORD")
    variables.update(
        {
            "OPENPOOL_APP_ID": name_prefix,
            "ETH_PRIVATE_KEY": payer_key,
            "OPENPOOL_PAYOUT_AUDIT_PREFIX": f"{name_prefix}/audit/",
            "PAYMENT_THRESHOLD_WEI": str(10**16),
            "OPENPOOL_PAYOUT_POLL_INTERVAL_SECONDS": "0.05",
            "OPENPOOL_PAYOUT_RECEIPT_TIMEOUT_SECONDS": "20",
            "OPENPOOL_METRICS_PORT": "0",
        }
    )
    return PayerEnv(variables, tmp_path)
