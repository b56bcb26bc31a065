"""Sets the payments gauges of `openpool.metrics` from a WAL ledger and from the chain."""

from __future__ import annotations

from datetime import UTC, datetime

from openpool.metrics import PAYER_BALANCE_WEI, PAYER_HALTED, PAYER_NONCE, PAYOUT_OLDEST_OPEN_AGE, PAYOUTS, PAYOUTS_WEI
from payments.chain import Chain, ChainUnavailable
from payments.wal import PAID_STATES, PaidLedger, PayoutState

_FAILED = frozenset({PayoutState.FAILED_ONCHAIN, PayoutState.RESOLVED_UNPAID})


def observe_ledger(ledger: PaidLedger) -> None:
    counts = {"pending": 0, "confirmed": 0, "failed": 0}
    amounts = dict.fromkeys(counts, 0)
    oldest: datetime | None = None
    for record in ledger.records.values():
        if record.state in PAID_STATES:
            outcome = "confirmed"
        elif record.state in _FAILED:
            outcome = "failed"
        else:
            outcome = "pending"
            oldest = record.created_at if oldest is None else min(oldest, record.created_at)
        counts[outcome] += 1
        amounts[outcome] += record.amount_wei
    for outcome in counts:
        PAYOUTS.labels(state=outcome).set(counts[outcome])
        PAYOUTS_WEI.labels(state=outcome).set(amounts[outcome])
    # Evaluated at scrape time, so the age keeps growing between rounds while a payout stays open.
    PAYOUT_OLDEST_OPEN_AGE.set_function(
        lambda: 0.0 if oldest is None else max((datetime.now(UTC) - oldest).total_seconds(), 0.0)
    )
    PAYER_HALTED.set(1 if ledger.halted else 0)


async def observe_wallet(chain: Chain, payer: str, ledger: PaidLedger) -> bool:
    """Balance and nonces of the hot wallet; skipped quietly when the node does not answer (returns False)."""
    signed = [r.nonce for r in ledger.records.values() if r.payer == payer and r.nonce is not None]
    PAYER_NONCE.labels(source="local").set(max(signed) + 1 if signed else 0)
    try:
        PAYER_BALANCE_WEI.set(await chain.balance_wei(payer))
        PAYER_NONCE.labels(source="chain_pending").set(await chain.nonce(payer, "pending"))
        PAYER_NONCE.labels(source="chain_latest").set(await chain.nonce(payer, "latest"))
    except ChainUnavailable:
        return False
    return True
