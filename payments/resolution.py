"""An operator's decision on a halted or failed payout, checked against the chain before it is recorded.

Resolving as *paid* ends a halted payout: the operator found the money arrived (evidence says how).
Resolving as *unpaid* releases the amount to be planned again, so it is refused while any of the payout's
signed transactions could still move money: its nonce must already be used on chain, and none of its
transactions may be mined successfully. Only then is a new payout, with a new nonce, safe.
"""

from __future__ import annotations

from datetime import datetime

from payments.chain import Chain
from payments.wal import PayoutState, Resolution, WalError, WalRecord, record_resolved

_RESOLVABLE = {
    True: frozenset({PayoutState.HALTED}),
    False: frozenset({PayoutState.INTENT, PayoutState.HALTED, PayoutState.FAILED_ONCHAIN}),
}


class ResolutionRefused(Exception):
    """The decision contradicts the WAL or the chain; nothing was recorded."""


async def resolve(record: WalRecord, decision: Resolution, chain: Chain, at: datetime) -> WalRecord:
    if record.state not in _RESOLVABLE[decision.paid]:
        allowed = ", ".join(sorted(state.value for state in _RESOLVABLE[decision.paid]))
        verdict = "paid" if decision.paid else "unpaid"
        raise ResolutionRefused(
            f"payout {record.payout_id} is {record.state.value}; only {allowed} payouts can be resolved as {verdict}"
        )
    if not decision.paid and record.attempts:
        await _check_no_transaction_can_pay(record, chain)
    try:
        return record_resolved(record, decision, at)
    except WalError as error:
        raise ResolutionRefused(str(error)) from None


async def _check_no_transaction_can_pay(record: WalRecord, chain: Chain) -> None:
    nonce, payer = record.nonce, record.payer
    assert nonce is not None and payer is not None
    if await chain.nonce(payer, "latest") <= nonce:
        raise ResolutionRefused(
            f"payout {record.payout_id}: nonce {nonce} of {payer} is not used yet, so one of its "
            f"{len(record.attempts)} signed transaction(s) could still be mined; run reconcile, or wait"
        )
    for tx_hash in record.tx_hashes:
        receipt = await chain.receipt(tx_hash)
        if receipt is not None and receipt.status == 1:
            raise ResolutionRefused(
                f"payout {record.payout_id}: its transaction {tx_hash} is mined in block {receipt.block_number}; "
                "it was paid — run reconcile"
            )
