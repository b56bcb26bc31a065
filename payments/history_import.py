"""Carrying the predecessor's completed payments into the WAL, so switching systems re-pays nobody.

The predecessor wrote one audit file per payment run, `payments_{node_type}_{region}_{YYYYmmdd_HHMMSS}.json`,
holding `{"timestamp", "node_type", "region", ..., "payments": [payment_event, ...]}` (replaced-system.md
§5.3). Every event with `status == "completed"` becomes one payout in state RESOLVED_PAID, resolved by the
`import-history` operator with the file and the predecessor's payment id as evidence. Such a payout counts
as confirmed: planning subtracts it from earnings, and continues with the next payout sequence number.

Importing is idempotent: a payment whose predecessor id, or whose transaction hash, the WAL already
knows is not imported again. Files are all read and checked before anything is written; a malformed file
refuses the whole import. The predecessor's timestamps are naive; they are taken as UTC.

Only "completed" events are imported. An "error" event may still have been mined (the predecessor treated
a receipt timeout as unpaid, replaced-system.md §9 item 3): those with a transaction hash are reported
for an operator to check on chain.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from pydantic import ValidationError

from openpool.domain.payouts import PaidView, payout_id
from payments.audit import IMPORT_OPERATOR
from payments.wal import PayoutState, Resolution, WalRecord

AUDIT_FILE = re.compile(r"^payments_(?P<node_type>[^_]+)_(?P<region>.+)_(?P<stamp>\d{8}_\d{6})\.json$")
_TX_HASH = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class HistoryError(ValueError):
    """An audit file or payment that cannot be imported as it is; nothing was written."""


@dataclass(frozen=True, slots=True)
class PredecessorPayment:
    payment_id: str
    address: str
    amount_wei: int
    paid_at: datetime
    tx_hash: str | None
    source_file: str


@dataclass(frozen=True, slots=True)
class UnsettledPayment:
    """A non-completed event that names a transaction: it may have been mined after all."""

    payment_id: str
    address: str
    amount_wei: int
    status: str
    tx_hash: str
    source_file: str


@dataclass(frozen=True, slots=True)
class PredecessorHistory:
    files: tuple[str, ...]
    completed: tuple[PredecessorPayment, ...]
    not_completed: int
    to_check: tuple[UnsettledPayment, ...]


@dataclass(frozen=True, slots=True)
class ImportPlan:
    records: tuple[WalRecord, ...]
    already_imported: tuple[PredecessorPayment, ...]

    @property
    def total_wei(self) -> int:
        return sum(record.amount_wei for record in self.records)


def _tx_hash(value: object, where: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _TX_HASH.match(value):
        raise HistoryError(f"{where}: transaction_hash is not a 32-byte hex hash")
    return "0x" + value.lower().removeprefix("0x")


def _amount(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise HistoryError(f"{where}: amount is not an integer number of wei")
    try:
        amount = int(value)
    except ValueError:
        raise HistoryError(f"{where}: amount is not an integer number of wei") from None
    if amount <= 0:
        raise HistoryError(f"{where}: amount must be positive")
    return amount


def _timestamp(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise HistoryError(f"{where}: timestamp is missing")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HistoryError(f"{where}: timestamp {value!r} is not ISO 8601") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _address(value: object, where: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise HistoryError(f"{where}: eth_address is not an Ethereum address")
    return to_checksum_address(value)


def read_history(directory: Path) -> PredecessorHistory:
    """Every payment in the predecessor's audit files under `directory` (not recursive), checked."""
    if not directory.is_dir():
        raise HistoryError(f"{directory}: not a directory")
    files = sorted(path for path in directory.iterdir() if path.is_file() and AUDIT_FILE.match(path.name))
    completed: dict[str, PredecessorPayment] = {}
    not_completed = 0
    to_check: list[UnsettledPayment] = []
    for path in files:
        for index, event in enumerate(_events(path)):
            where = f"{path.name}: payments[{index}]"
            if not isinstance(event, dict):
                raise HistoryError(f"{where}: not a JSON object")
            payment_id = event.get("payment_id")
            if not isinstance(payment_id, str) or not payment_id:
                raise HistoryError(f"{where}: payment_id is missing")
            status = event.get("status")
            if status != "completed":
                not_completed += 1
                tx_hash = _tx_hash(event.get("transaction_hash"), where)
                if tx_hash is not None:
                    to_check.append(
                        UnsettledPayment(
                            payment_id,
                            _address(event.get("eth_address"), where),
                            _amount(event.get("amount"), where),
                            str(status),
                            tx_hash,
                            path.name,
                        )
                    )
                continue
            payment = PredecessorPayment(
                payment_id=payment_id,
                address=_address(event.get("eth_address"), where),
                amount_wei=_amount(event.get("amount"), where),
                paid_at=_timestamp(event.get("timestamp"), where),
                tx_hash=_tx_hash(event.get("transaction_hash"), where),
                source_file=path.name,
            )
            seen = completed.get(payment_id)
            if seen is not None and (seen.address, seen.amount_wei) != (payment.address, payment.amount_wei):
                raise HistoryError(f"{where}: payment {payment_id} appears twice with different payee or amount")
            completed.setdefault(payment_id, payment)
    return PredecessorHistory(tuple(p.name for p in files), tuple(completed.values()), not_completed, tuple(to_check))


def _events(path: Path) -> list[Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HistoryError(f"{path.name}: not readable JSON ({type(error).__name__})") from None
    payments = document.get("payments") if isinstance(document, dict) else None
    if not isinstance(payments, list):
        raise HistoryError(f"{path.name}: has no 'payments' list")
    return payments


def _known(records: Iterable[WalRecord]) -> tuple[set[str], set[str]]:
    references: set[str] = set()
    hashes: set[str] = set()
    for record in records:
        hashes.update(record.tx_hashes)
        if record.resolution is not None:
            if record.resolution.tx_hash is not None:
                hashes.add(record.resolution.tx_hash)
            if record.resolution.reference is not None and record.resolution.operator == IMPORT_OPERATOR:
                references.add(record.resolution.reference)
    return references, hashes


def plan_import(history: PredecessorHistory, records: Iterable[WalRecord], paid: PaidView, now: datetime) -> ImportPlan:
    """The RESOLVED_PAID records to append: payments the WAL does not know yet, numbered after each address's
    payouts in the order the predecessor made them."""
    references, hashes = _known(records)
    fresh: dict[str, list[PredecessorPayment]] = defaultdict(list)
    already: list[PredecessorPayment] = []
    for payment in history.completed:
        if payment.payment_id in references or (payment.tx_hash is not None and payment.tx_hash in hashes):
            already.append(payment)
        else:
            fresh[payment.address].append(payment)
    imported: list[WalRecord] = []
    for address in sorted(fresh):
        seq = paid.next_seq.get(address, 1)
        for payment in sorted(fresh[address], key=lambda p: (p.paid_at, p.payment_id)):
            imported.append(_record(payment, seq, now))
            seq += 1
    return ImportPlan(tuple(imported), tuple(already))


def _record(payment: PredecessorPayment, seq: int, now: datetime) -> WalRecord:
    try:
        return WalRecord(
            payout_id=payout_id(payment.address, seq),
            state=PayoutState.RESOLVED_PAID,
            address=payment.address,
            amount_wei=payment.amount_wei,
            seq=seq,
            created_at=payment.paid_at,
            updated_at=now.astimezone(UTC),
            resolution=Resolution(
                paid=True,
                evidence=f"completed payment {payment.payment_id} in the predecessor's {payment.source_file}",
                operator=IMPORT_OPERATOR,
                tx_hash=payment.tx_hash,
                reference=payment.payment_id,
            ),
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise HistoryError(f"{payment.source_file}: payment {payment.payment_id}: {first['msg']}") from None
