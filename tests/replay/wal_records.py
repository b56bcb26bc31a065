"""Payout WAL records without a chain: intents, and their halt and resolution by an operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openpool.domain.payouts import PayoutIntent, payout_id
from payments.wal import Resolution, WalRecord, new_intent, record_halted, record_resolved

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)
PAYEES = ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359")


def intent(address: str = PAYEES[0], amount: int = 10**16, seq: int = 1) -> WalRecord:
    return new_intent(PayoutIntent(payout_id(address, seq), address, amount, seq), T0)


def halted(record: WalRecord) -> WalRecord:
    return record_halted(record, "receipt not found", T0 + timedelta(minutes=1))


def paid(record: WalRecord) -> WalRecord:
    """Halted, then resolved as paid by an operator: counts as confirmed in the paid ledger."""
    resolution = Resolution(paid=True, evidence="mined in block 42", operator="ops")
    return record_resolved(halted(record), resolution, T0 + timedelta(minutes=2))
