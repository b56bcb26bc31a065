"""The chain as the payer sees it: a handful of JSON-RPC calls, typed, over web3's async client.

Reads are idempotent, so a transport failure is retried (three tries, short exponential backoff). Sending
a raw transaction is not retried here, and web3's own retry is switched off: whether a failed send reached
the node is unknowable from the error, so every outcome, including "already known", "nonce too low" and
"replacement transaction underpriced", is returned as a `SendOutcome` for the payer to settle by looking
the transaction up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeVar

import aiohttp
from eth_typing import ChecksumAddress, HexStr
from eth_utils.address import to_checksum_address
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import TxParams, Wei

from payments.wal import Receipt

T = TypeVar("T")

# web3 logs the RPC URL, which often embeds an API key, at INFO and DEBUG; only its warnings may pass.
logging.getLogger("web3").setLevel(logging.WARNING)

_TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class ChainUnavailable(Exception):
    """The node did not answer a read after every retry."""


class ChainError(Exception):
    """The node answered, but not with what a payer can work with."""


class SendStatus(StrEnum):
    ACCEPTED = "accepted"
    ALREADY_KNOWN = "already_known"
    NONCE_TOO_LOW = "nonce_too_low"
    UNDERPRICED = "underpriced"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # no answer: the transaction may or may not have reached the node


@dataclass(frozen=True, slots=True)
class SendOutcome:
    status: SendStatus
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ChainTransaction:
    tx_hash: str
    nonce: int
    block_number: int | None


def classify_send_error(message: str) -> SendStatus:
    text = message.lower()
    if "already known" in text or "already imported" in text or "known transaction" in text:
        return SendStatus.ALREADY_KNOWN
    if "nonce too low" in text or "nonce is too low" in text:
        return SendStatus.NONCE_TOO_LOW
    if "underpriced" in text:
        return SendStatus.UNDERPRICED
    return SendStatus.REJECTED


def _rpc_message(error: Web3RPCError) -> str:
    response = error.rpc_response
    if response is not None:
        detail = response.get("error")
        if isinstance(detail, dict) and isinstance(detail.get("message"), str):
            return str(detail["message"])
        if isinstance(detail, str):
            return detail
    return error.message


class Chain:
    def __init__(
        self,
        rpc_url: str,
        *,
        read_attempts: int = 3,
        backoff_seconds: float = 0.2,
        request_timeout_seconds: float = 10.0,
    ) -> None:
        provider = AsyncHTTPProvider(
            rpc_url,
            request_kwargs={"timeout": aiohttp.ClientTimeout(total=request_timeout_seconds)},
            exception_retry_configuration=None,
        )
        self._w3 = AsyncWeb3(provider)
        self._read_attempts = read_attempts
        self._backoff_seconds = backoff_seconds

    def __repr__(self) -> str:
        # RPC URLs often embed an API key; never print them.
        return "Chain()"

    async def close(self) -> None:
        await self._w3.provider.disconnect()

    async def __aenter__(self) -> Chain:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _read(self, what: str, call: Callable[[], Awaitable[T]], *, rpc_errors_are_answers: bool = False) -> T:
        """Try a read up to `read_attempts` times. A JSON-RPC error is retried too (a node or its load balancer
        answers -32603 while its upstream is away), unless the caller takes it as the answer."""
        failure = ""
        for attempt in range(self._read_attempts):
            if attempt:
                await asyncio.sleep(self._backoff_seconds * 2 ** (attempt - 1))
            try:
                return await call()
            except _TRANSPORT_ERRORS as error:
                failure = type(error).__name__
            except Web3RPCError as error:
                if rpc_errors_are_answers:
                    raise
                failure = f"{type(error).__name__} {_rpc_message(error)[:100]}"
        raise ChainUnavailable(f"{what}: no answer after {self._read_attempts} tries ({failure})")

    async def chain_id(self) -> int:
        return int(await self._read("eth_chainId", lambda: self._w3.eth.chain_id))

    async def base_fee_wei(self) -> int:
        """The base fee a transaction sent now must cover: the latest block's, or the pending block's if higher.

        Nodes that build a pending block (anvil, geth) already know the next block's base fee; those that do
        not (Arbitrum's sequencer) return the latest block for `pending`, so the maximum is never lower than
        the latest block's base fee.
        """
        latest = await self._read("eth_getBlockByNumber", lambda: self._w3.eth.get_block("latest"))
        pending = await self._read("eth_getBlockByNumber", lambda: self._w3.eth.get_block("pending"))
        fees = [int(fee) for fee in (latest.get("baseFeePerGas"), pending.get("baseFeePerGas")) if fee is not None]
        if not fees:
            raise ChainError("the latest block has no baseFeePerGas (not an EIP-1559 chain)")
        return max(fees)

    async def nonce(self, address: str, block: Literal["latest", "pending"]) -> int:
        account = _address(address)
        return int(
            await self._read("eth_getTransactionCount", lambda: self._w3.eth.get_transaction_count(account, block))
        )

    async def balance_wei(self, address: str) -> int:
        account = _address(address)
        return int(await self._read("eth_getBalance", lambda: self._w3.eth.get_balance(account, "latest")))

    async def estimate_gas(self, sender: str, to: str, value_wei: int) -> int:
        tx: TxParams = {"from": _address(sender), "to": _address(to), "value": Wei(value_wei)}
        try:
            estimate = self._read("eth_estimateGas", lambda: self._w3.eth.estimate_gas(tx), rpc_errors_are_answers=True)
            return int(await estimate)
        except ContractLogicError as error:
            # A payee contract that reverts on receiving ETH: no gas limit would make the transfer succeed.
            raise ChainError(f"eth_estimateGas: the payee reverts ({error.message or 'no reason'})") from None
        except Web3RPCError as error:
            raise ChainError(f"eth_estimateGas: {_rpc_message(error)[:300]}") from None

    async def send_raw_transaction(self, raw_tx: str) -> SendOutcome:
        try:
            await self._w3.eth.send_raw_transaction(HexStr(raw_tx))
        except Web3RPCError as error:
            message = _rpc_message(error)
            return SendOutcome(classify_send_error(message), message[:300])
        except Exception as error:
            return SendOutcome(SendStatus.UNKNOWN, type(error).__name__)
        return SendOutcome(SendStatus.ACCEPTED)

    async def transaction(self, tx_hash: str) -> ChainTransaction | None:
        async def lookup() -> ChainTransaction | None:
            try:
                tx = await self._w3.eth.get_transaction(HexStr(tx_hash))
            except TransactionNotFound:
                return None
            block_number = tx.get("blockNumber")
            return ChainTransaction(
                tx_hash=tx_hash,
                nonce=int(tx["nonce"]),
                block_number=None if block_number is None else int(block_number),
            )

        return await self._read("eth_getTransactionByHash", lookup)

    async def receipt(self, tx_hash: str) -> Receipt | None:
        async def lookup() -> Receipt | None:
            try:
                receipt = await self._w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except TransactionNotFound:
                return None
            if receipt.get("blockNumber") is None:
                return None
            status = int(receipt["status"])
            return Receipt(
                tx_hash=receipt["transactionHash"].to_0x_hex(),
                block_number=int(receipt["blockNumber"]),
                block_hash=receipt["blockHash"].to_0x_hex(),
                gas_used=int(receipt["gasUsed"]),
                effective_gas_price=int(receipt["effectiveGasPrice"]),
                status=1 if status == 1 else 0,
            )

        return await self._read("eth_getTransactionReceipt", lookup)


def _address(address: str) -> ChecksumAddress:
    return to_checksum_address(address)
