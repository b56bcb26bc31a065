"""The payer's transfers as the chain shows them, read straight from anvil (not through the loop's proxy).

Only new blocks are read on each refresh, so a poll stays cheap however many payouts the loop has made.
"""

from __future__ import annotations

from tests.payments.anvil_control import AnvilControl
from tests.reliability.trial_checks import Transfer


class PayerTransfers:
    def __init__(self, anvil: AnvilControl, payer: str, after_block: int) -> None:
        self._anvil = anvil
        self._payer = payer.lower()
        self._scanned = after_block
        self.transfers: list[Transfer] = []

    @classmethod
    async def from_now(cls, anvil: AnvilControl, payer: str) -> PayerTransfers:
        return cls(anvil, payer, await anvil.block_number())

    async def refresh(self) -> list[Transfer]:
        """Every successful value transfer from the payer mined since the start; blocks are read once."""
        latest = await self._anvil.block_number()
        for number in range(self._scanned + 1, latest + 1):
            block = await self._anvil.call("eth_getBlockByNumber", hex(number), True)
            for tx in block["transactions"]:
                if tx["from"].lower() != self._payer or int(tx["value"], 16) == 0:
                    continue
                receipt = await self._anvil.call("eth_getTransactionReceipt", tx["hash"])
                if int(receipt["status"], 16) == 1:
                    self.transfers.append(Transfer(tx["hash"].lower(), tx["to"].lower(), int(tx["value"], 16), number))
            self._scanned = number
        return self.transfers
