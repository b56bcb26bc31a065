"""The payout write-ahead log: record types, the state machine and the fold into a paid ledger.

Every record carries the payout's whole latest state (all signed attempts with their raw transactions and
hashes, the receipt, the halt reason, the operator's resolution), so a compacted topic that keeps only the
last record per payout id loses nothing a payer needs to recover.

    INTENT -> SIGNED -> BROADCAST -> REPLACED* -> CONFIRMED | FAILED_ONCHAIN
    any open state -> HALTED -> RESOLVED_PAID | RESOLVED_UNPAID (operator, with evidence)

SIGNED is written, and acknowledged, before the transaction is broadcast; REPLACED likewise before its
replacement goes out. A signed transaction's nonce is the chain's only guard against paying twice, so
each attempt is checked here against its own raw bytes: same payee, amount, chain, payer and nonce.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from openpool.domain.events import Address
from openpool.domain.payouts import PayoutIntent, payout_id


class PayoutState(StrEnum):
    INTENT = "intent"
    SIGNED = "signed"
    BROADCAST = "broadcast"
    REPLACED = "replaced"
    CONFIRMED = "confirmed"
    FAILED_ONCHAIN = "failed_onchain"
    HALTED = "halted"
    RESOLVED_PAID = "resolved_paid"
    RESOLVED_UNPAID = "resolved_unpaid"


_NEXT: Mapping[PayoutState, frozenset[PayoutState]] = {
    PayoutState.INTENT: frozenset({PayoutState.SIGNED, PayoutState.HALTED, PayoutState.RESOLVED_UNPAID}),
    PayoutState.SIGNED: frozenset(
        {
            PayoutState.BROADCAST,
            PayoutState.REPLACED,
            PayoutState.CONFIRMED,
            PayoutState.FAILED_ONCHAIN,
            PayoutState.HALTED,
        }
    ),
    PayoutState.BROADCAST: frozenset(
        {PayoutState.REPLACED, PayoutState.CONFIRMED, PayoutState.FAILED_ONCHAIN, PayoutState.HALTED}
    ),
    PayoutState.REPLACED: frozenset(
        {
            PayoutState.BROADCAST,
            PayoutState.REPLACED,
            PayoutState.CONFIRMED,
            PayoutState.FAILED_ONCHAIN,
            PayoutState.HALTED,
        }
    ),
    PayoutState.HALTED: frozenset(
        {
            PayoutState.CONFIRMED,
            PayoutState.FAILED_ONCHAIN,
            PayoutState.RESOLVED_PAID,
            PayoutState.RESOLVED_UNPAID,
        }
    ),
    PayoutState.FAILED_ONCHAIN: frozenset({PayoutState.RESOLVED_UNPAID}),
    PayoutState.CONFIRMED: frozenset(),
    PayoutState.RESOLVED_PAID: frozenset(),
    PayoutState.RESOLVED_UNPAID: frozenset(),
}

TERMINAL_STATES = frozenset(
    {PayoutState.CONFIRMED, PayoutState.FAILED_ONCHAIN, PayoutState.RESOLVED_PAID, PayoutState.RESOLVED_UNPAID}
)
PAID_STATES = frozenset({PayoutState.CONFIRMED, PayoutState.RESOLVED_PAID})
IN_FLIGHT_STATES = frozenset(PayoutState) - TERMINAL_STATES
_NEEDS_ATTEMPT = frozenset(
    {
        PayoutState.SIGNED,
        PayoutState.BROADCAST,
        PayoutState.REPLACED,
        PayoutState.CONFIRMED,
        PayoutState.FAILED_ONCHAIN,
    }
)
_NEEDS_RECEIPT = frozenset({PayoutState.CONFIRMED, PayoutState.FAILED_ONCHAIN})
_MAY_KEEP_RECEIPT = _NEEDS_RECEIPT | {PayoutState.RESOLVED_UNPAID}
_MAY_KEEP_HALT_REASON = frozenset({PayoutState.HALTED, PayoutState.RESOLVED_PAID, PayoutState.RESOLVED_UNPAID})


def _reachable(start: PayoutState) -> frozenset[PayoutState]:
    seen: set[PayoutState] = set()
    frontier = [start]
    while frontier:
        for state in _NEXT[frontier.pop()]:
            if state not in seen:
                seen.add(state)
                frontier.append(state)
    return frozenset(seen)


_REACHABLE: Mapping[PayoutState, frozenset[PayoutState]] = {state: _reachable(state) for state in PayoutState}


class WalError(ValueError):
    """A WAL record or transition that must not exist; the payer stops rather than guess."""


class IllegalTransition(WalError):
    def __init__(self, payout: str, current: PayoutState, requested: PayoutState) -> None:
        super().__init__(f"payout {payout}: {current.value} -> {requested.value} is not a legal transition")
        self.payout_id = payout
        self.current = current
        self.requested = requested


class AttemptMismatch(WalError):
    """A signed transaction that does not pay exactly what its payout says."""


def _lower_hex(value: str) -> str:
    if not value.startswith("0x") or any(c not in "0123456789abcdef" for c in value[2:]) or len(value) % 2:
        raise ValueError("must be 0x-prefixed lowercase hex")
    return value


Hex = Annotated[str, AfterValidator(_lower_hex)]
TxHash = Annotated[Hex, Field(min_length=66, max_length=66)]
NonNegative = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(gt=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TxAttempt(_Frozen):
    """One signed type-2 transfer. Its fields repeat what the raw bytes say, for people reading the WAL."""

    nonce: NonNegative
    max_fee_per_gas: NonNegative
    max_priority_fee_per_gas: NonNegative
    gas: Positive
    raw_tx: Hex
    tx_hash: TxHash
    signed_at: AwareDatetime

    @model_validator(mode="after")
    def _matches_raw_tx(self) -> TxAttempt:
        decoded = decode_transfer(self.raw_tx)
        if (decoded.tx_hash, decoded.nonce, decoded.max_fee_per_gas, decoded.max_priority_fee_per_gas, decoded.gas) != (
            self.tx_hash,
            self.nonce,
            self.max_fee_per_gas,
            self.max_priority_fee_per_gas,
            self.gas,
        ):
            raise ValueError("attempt fields disagree with its raw transaction")
        return self


class Receipt(_Frozen):
    tx_hash: TxHash
    block_number: NonNegative
    block_hash: TxHash
    gas_used: NonNegative
    effective_gas_price: NonNegative
    status: Literal[0, 1]


class Resolution(_Frozen):
    """An operator's decision on a halted or failed payout, with the evidence it rests on."""

    paid: bool
    evidence: Annotated[str, Field(min_length=1, max_length=2000)]
    operator: Annotated[str, Field(min_length=1, max_length=200)]
    tx_hash: TxHash | None = None
    # An identifier from outside this WAL, e.g. the predecessor's payment id of an imported payment.
    reference: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class WalRecord(_Frozen):
    v: Literal[1] = 1
    payout_id: str
    state: PayoutState
    address: Address
    amount_wei: Positive
    seq: Positive
    created_at: AwareDatetime
    updated_at: AwareDatetime
    payer: Address | None = None
    chain_id: Positive | None = None
    attempts: tuple[TxAttempt, ...] = ()
    receipt: Receipt | None = None
    halt_reason: str | None = None
    resolution: Resolution | None = None

    @model_validator(mode="after")
    def _consistent(self) -> WalRecord:
        if self.payout_id != payout_id(self.address, self.seq):
            raise ValueError("payout_id is not derived from address and seq")
        if self.state in _NEEDS_ATTEMPT and not self.attempts:
            raise ValueError(f"a {self.state.value} record needs at least one signed attempt")
        if self.attempts and (self.payer is None or self.chain_id is None):
            raise ValueError("a record with attempts needs payer and chain_id")
        if len({attempt.nonce for attempt in self.attempts}) > 1:
            raise ValueError("all attempts of one payout share one nonce")
        if self.state in _NEEDS_RECEIPT and self.receipt is None:
            raise ValueError(f"a {self.state.value} record needs its receipt")
        if self.receipt is not None and self.state not in _MAY_KEEP_RECEIPT:
            raise ValueError("a receipt belongs to mined records and their resolutions")
        if self.receipt is not None and self.receipt.tx_hash not in self.tx_hashes:
            raise ValueError("the receipt is for a transaction this payout never signed")
        if self.state is PayoutState.CONFIRMED and self.receipt is not None and self.receipt.status != 1:
            raise ValueError("a confirmed payout needs a successful receipt")
        if self.state is PayoutState.FAILED_ONCHAIN and self.receipt is not None and self.receipt.status != 0:
            raise ValueError("a failed payout needs a failed receipt")
        if self.state is PayoutState.HALTED and not self.halt_reason:
            raise ValueError("a halted record needs its reason")
        if self.halt_reason is not None and self.state not in _MAY_KEEP_HALT_REASON:
            raise ValueError("halt_reason belongs to halted records and their resolutions")
        if (self.state in (PayoutState.RESOLVED_PAID, PayoutState.RESOLVED_UNPAID)) != (self.resolution is not None):
            raise ValueError("a resolution belongs exactly to resolved records")
        return self

    @property
    def nonce(self) -> int | None:
        return self.attempts[-1].nonce if self.attempts else None

    @property
    def latest_attempt(self) -> TxAttempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def tx_hashes(self) -> tuple[str, ...]:
        return tuple(attempt.tx_hash for attempt in self.attempts)

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES


# --- raw transaction decoding ---


@dataclass(frozen=True, slots=True)
class DecodedTransfer:
    chain_id: int
    nonce: int
    to: str | None
    value: int
    data: bytes
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    tx_hash: str


def decode_transfer(raw_tx: str) -> DecodedTransfer:
    raw = HexBytes(raw_tx)
    if not raw or raw[0] != 2:
        raise AttemptMismatch("not an EIP-1559 (type 2) transaction")
    try:
        fields = TypedTransaction.from_bytes(raw).as_dict()
    except Exception as error:
        raise AttemptMismatch(f"undecodable transaction ({type(error).__name__})") from None
    to = fields.get("to")
    return DecodedTransfer(
        chain_id=int(fields["chainId"]),
        nonce=int(fields["nonce"]),
        to=to_checksum_address(bytes(to)) if to else None,
        value=int(fields["value"]),
        data=bytes(fields.get("data", b"")),
        gas=int(fields["gas"]),
        max_fee_per_gas=int(fields["maxFeePerGas"]),
        max_priority_fee_per_gas=int(fields["maxPriorityFeePerGas"]),
        tx_hash="0x" + keccak(bytes(raw)).hex(),
    )


def _check_attempt(record: WalRecord, attempt: TxAttempt, payer: str, chain_id: int) -> None:
    decoded = decode_transfer(attempt.raw_tx)
    problems = []
    if decoded.chain_id != chain_id:
        problems.append(f"chain id {decoded.chain_id} != {chain_id}")
    if decoded.to != record.address:
        problems.append("payee differs")
    if decoded.value != record.amount_wei:
        problems.append(f"value {decoded.value} != {record.amount_wei}")
    if decoded.data:
        problems.append("carries call data")
    sender = Account.recover_transaction(attempt.raw_tx)
    if sender != payer:
        problems.append("signed by another account than the payer")
    if problems:
        raise AttemptMismatch(f"payout {record.payout_id}: " + "; ".join(problems))


# --- transitions ---


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise WalError("WAL timestamps must be timezone-aware")
    return at.astimezone(UTC)


def _advance(record: WalRecord, state: PayoutState, at: datetime, **changes: object) -> WalRecord:
    if state not in _NEXT[record.state]:
        raise IllegalTransition(record.payout_id, record.state, state)
    data = record.model_dump()
    data.update(changes, state=state, updated_at=_utc(at))
    try:
        return WalRecord.model_validate(data)
    except ValidationError as error:
        raise WalError(f"payout {record.payout_id}: invalid {state.value} record: {error}") from None


def new_intent(intent: PayoutIntent, at: datetime) -> WalRecord:
    at = _utc(at)
    try:
        return WalRecord(
            payout_id=intent.payout_id,
            state=PayoutState.INTENT,
            address=intent.address,
            amount_wei=intent.amount_wei,
            seq=intent.seq,
            created_at=at,
            updated_at=at,
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise WalError(f"payout {intent.payout_id}: invalid intent: {first['loc']}: {first['msg']}") from None


def record_signed(record: WalRecord, attempt: TxAttempt, payer: str, chain_id: int, at: datetime) -> WalRecord:
    _check_attempt(record, attempt, payer, chain_id)
    return _advance(record, PayoutState.SIGNED, at, payer=payer, chain_id=chain_id, attempts=(attempt,))


def record_broadcast(record: WalRecord, at: datetime) -> WalRecord:
    return _advance(record, PayoutState.BROADCAST, at)


def bumped_fee(fee: int) -> int:
    """The smallest fee a node must accept as a replacement: strictly more than +10 %."""
    return fee + fee // 10 + 1


def record_replaced(record: WalRecord, attempt: TxAttempt, at: datetime) -> WalRecord:
    previous = record.latest_attempt
    if previous is None or record.payer is None or record.chain_id is None:
        raise IllegalTransition(record.payout_id, record.state, PayoutState.REPLACED)
    _check_attempt(record, attempt, record.payer, record.chain_id)
    if attempt.nonce != previous.nonce:
        raise AttemptMismatch(f"payout {record.payout_id}: a replacement must reuse nonce {previous.nonce}")
    if attempt.max_fee_per_gas < bumped_fee(previous.max_fee_per_gas) or attempt.max_priority_fee_per_gas < bumped_fee(
        previous.max_priority_fee_per_gas
    ):
        raise AttemptMismatch(f"payout {record.payout_id}: a replacement must raise both fees by more than 10 %")
    return _advance(record, PayoutState.REPLACED, at, attempts=(*record.attempts, attempt))


def record_mined(record: WalRecord, receipt: Receipt, at: datetime) -> WalRecord:
    state = PayoutState.CONFIRMED if receipt.status == 1 else PayoutState.FAILED_ONCHAIN
    return _advance(record, state, at, receipt=receipt, halt_reason=None)


def record_halted(record: WalRecord, reason: str, at: datetime) -> WalRecord:
    return _advance(record, PayoutState.HALTED, at, halt_reason=reason)


def record_resolved(record: WalRecord, resolution: Resolution, at: datetime) -> WalRecord:
    if resolution.paid and record.state is not PayoutState.HALTED:
        raise IllegalTransition(record.payout_id, record.state, PayoutState.RESOLVED_PAID)
    state = PayoutState.RESOLVED_PAID if resolution.paid else PayoutState.RESOLVED_UNPAID
    return _advance(record, state, at, resolution=resolution)


# --- codec ---


def record_key(record: WalRecord) -> bytes:
    return record.payout_id.encode()


def to_bytes(record: WalRecord) -> bytes:
    return record.model_dump_json().encode()


def from_bytes(data: bytes) -> WalRecord:
    try:
        return WalRecord.model_validate_json(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise WalError(f"undecodable WAL record: {first['loc']}: {first['msg']}") from None


# --- fold ---


def check_successor(previous: WalRecord, record: WalRecord) -> None:
    """Raise unless `record` can follow `previous` for the same payout, possibly with records compacted away."""
    if record == previous:
        return
    same = (previous.payout_id, previous.address, previous.amount_wei, previous.seq, previous.created_at)
    if same != (record.payout_id, record.address, record.amount_wei, record.seq, record.created_at):
        raise WalError(f"payout {record.payout_id}: a later record changes what is paid to whom")
    if record.state not in _REACHABLE[previous.state]:
        raise IllegalTransition(record.payout_id, previous.state, record.state)
    if record.attempts[: len(previous.attempts)] != previous.attempts:
        raise WalError(f"payout {record.payout_id}: a later record forgets signed attempts")


@dataclass(frozen=True)
class PaidLedger:
    """The WAL folded into what planning and recovery need; satisfies `openpool.domain.payouts.PaidView`."""

    records: Mapping[str, WalRecord]
    confirmed_wei: Mapping[str, int]
    in_flight_wei: Mapping[str, int]
    next_seq: Mapping[str, int]
    open_addresses: Set[str]
    review_addresses: Set[str]
    spent_by_day: Mapping[date, int]

    @property
    def halted(self) -> bool:
        return any(record.state is PayoutState.HALTED for record in self.records.values())

    @property
    def open_records(self) -> tuple[WalRecord, ...]:
        """Payouts that may still move money, in nonce order (unsigned intents last, by address and seq)."""
        records = [record for record in self.records.values() if not record.is_terminal]
        return tuple(sorted(records, key=lambda r: (r.nonce is None, r.nonce or 0, r.address, r.seq)))

    def spent_wei_on(self, day: date) -> int:
        return self.spent_by_day.get(day, 0)


def latest_records(records: Iterable[WalRecord]) -> dict[str, WalRecord]:
    """The last record per payout id, as a compacted topic keeps it; refuses a history that runs backwards."""
    latest: dict[str, WalRecord] = {}
    for record in records:
        previous = latest.get(record.payout_id)
        if previous is not None:
            check_successor(previous, record)
        latest[record.payout_id] = record
    return latest


def ledger_from_wal(records: Iterable[WalRecord]) -> PaidLedger:
    latest = latest_records(records)
    confirmed: dict[str, int] = defaultdict(int)
    in_flight: dict[str, int] = defaultdict(int)
    next_seq: dict[str, int] = {}
    last_by_address: dict[str, WalRecord] = {}
    spent: dict[date, int] = defaultdict(int)
    open_addresses: set[str] = set()
    for record in latest.values():
        address = record.address
        next_seq[address] = max(next_seq.get(address, 1), record.seq + 1)
        if address not in last_by_address or record.seq > last_by_address[address].seq:
            last_by_address[address] = record
        if record.state in PAID_STATES:
            confirmed[address] += record.amount_wei
        elif record.state in IN_FLIGHT_STATES:
            in_flight[address] += record.amount_wei
            open_addresses.add(address)
        if record.state in PAID_STATES or record.state in IN_FLIGHT_STATES:
            spent[record.created_at.astimezone(UTC).date()] += record.amount_wei
    review = {a for a, r in last_by_address.items() if r.state is PayoutState.FAILED_ONCHAIN}
    return PaidLedger(
        records=latest,
        confirmed_wei=dict(confirmed),
        in_flight_wei=dict(in_flight),
        next_seq=next_seq,
        open_addresses=frozenset(open_addresses),
        review_addresses=frozenset(review),
        spent_by_day=dict(spent),
    )
