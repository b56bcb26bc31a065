"""Test-only control of an anvil node: snapshots, mining, balances, and counting transfers in its blocks."""

from __future__ import annotations

from typing import Any

import aiohttp

from payments.signer import Signer


class AnvilControl:
    def __init__(self, rpc_url: str, session: aiohttp.ClientSession) -> None:
        self._url = rpc_url
        self._session = session
        self._id = 0

    async def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        payload = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
        async with self._session.post(self._url, json=payload) as response:
            body = await response.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    async def snapshot(self) -> str:
        return str(await self.call("evm_snapshot"))

    async def revert(self, snapshot: str) -> None:
        await self.call("evm_revert", snapshot)

    async def set_automine(self, enabled: bool) -> None:
        await self.call("evm_setAutomine", enabled)

    async def mine(self) -> None:
        await self.call("evm_mine")

    async def set_balance(self, address: str, wei: int) -> None:
        await self.call("anvil_setBalance", address, hex(wei))

    async def set_next_base_fee(self, wei: int) -> None:
        await self.call("anvil_setNextBlockBaseFeePerGas", hex(wei))

    async def base_fee(self) -> int:
        block = await self.call("eth_getBlockByNumber", "latest", False)
        return int(block["baseFeePerGas"], 16)

    async def drop_transaction(self, tx_hash: str) -> None:
        await self.call("anvil_dropTransaction", tx_hash)

    async def use_nonce_elsewhere(self, signer: Signer, nonce: int, to: str) -> str:
        """Spend `signer`'s `nonce` on a 1-wei transfer the payout WAL knows nothing about (an outsider)."""
        block = await self.call("eth_getBlockByNumber", "pending", False)
        signed = signer.sign(
            {
                "type": 2,
                "chainId": int(await self.call("eth_chainId"), 16),
                "nonce": nonce,
                "to": to,
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": 2 * int(block["baseFeePerGas"], 16),
                "maxPriorityFeePerGas": 0,
            }
        )
        return str(await self.call("eth_sendRawTransaction", signed.raw_tx))

    async def balance(self, address: str) -> int:
        return int(await self.call("eth_getBalance", address, "latest"), 16)

    async def nonce(self, address: str, block: str = "latest") -> int:
        return int(await self.call("eth_getTransactionCount", address, block), 16)

    async def block_number(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)

    async def successful_transfers(self, sender: str, from_block: int) -> dict[str, int]:
        """How many successful value transfers `sender` made to each address in blocks after `from_block`."""
        counts: dict[str, int] = {}
        for number in range(from_block + 1, await self.block_number() + 1):
            block = await self.call("eth_getBlockByNumber", hex(number), True)
            for tx in block["transactions"]:
                if tx["from"].lower() != sender.lower() or int(tx["value"], 16) == 0:
                    continue
                receipt = await self.call("eth_getTransactionReceipt", tx["hash"])
                if int(receipt["status"], 16) == 1:
                    to = tx["to"].lower()
                    counts[to] = counts.get(to, 0) + 1
        return counts
