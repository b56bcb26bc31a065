"""Terminal payouts as the predecessor's payment events: for the worker summary and the audit bucket.

`payment_event` gives a payout the `payment_event` shape of replaced-system.md §5.3 (amounts as integer
wei, `transaction_hash` 0x-prefixed), which the summary's `payment_history` lists for every paid payout.
Each terminal payout is also written to S3_METRICS_BUCKET under the audit prefix as that event plus the
payout's whole WAL record, so an auditor can check it against the chain without access to Kafka.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from openpool.domain.summary import eth
from openpool.s3_client import s3_client
from openpool.settings import Settings
from payments.wal import PAID_STATES, PayoutState, WalRecord

log = logging.getLogger(__name__)

IMPORT_OPERATOR = "import-history"


def is_imported(record: WalRecord) -> bool:
    return record.resolution is not None and record.resolution.operator == IMPORT_OPERATOR


def paid_at(record: WalRecord) -> datetime:
    """When the payment happened: an imported one when the predecessor made it, ours when it was settled."""
    return record.created_at if is_imported(record) else record.updated_at


def _paid_hash(record: WalRecord) -> str | None:
    if record.receipt is not None:
        return record.receipt.tx_hash
    if record.resolution is not None and record.resolution.tx_hash is not None:
        return record.resolution.tx_hash
    return None


def _blockchain_details(record: WalRecord) -> dict[str, Any]:
    receipt = record.receipt
    assert receipt is not None
    details: dict[str, Any] = {
        "transaction_hash": receipt.tx_hash,
        "from": record.payer,
        "to": record.address,
        "amount": record.amount_wei,
        "amount_eth": eth(record.amount_wei),
    }
    if receipt.status == 1:
        details |= {
            "gas_used": receipt.gas_used,
            "gas_price": receipt.effective_gas_price,
            "block_number": receipt.block_number,
            "status": "completed",
        }
    else:
        details |= {"block_number": receipt.block_number, "status": "error", "error": "transaction reverted on chain"}
    return details


def payment_event(record: WalRecord) -> dict[str, Any]:
    """A terminal payout in the predecessor's `payment_event` shape."""
    if not record.is_terminal:
        raise ValueError(f"payout {record.payout_id} is not terminal ({record.state.value})")
    event: dict[str, Any] = {
        "payment_id": record.payout_id,
        "eth_address": record.address,
        "amount": record.amount_wei,
        "timestamp": paid_at(record).isoformat(),
        "transaction_hash": _paid_hash(record),
    }
    resolution = record.resolution
    if record.state is PayoutState.CONFIRMED:
        event |= {"status": "completed", "blockchain_details": _blockchain_details(record)}
    elif record.state is PayoutState.FAILED_ONCHAIN:
        event |= {"status": "error", "blockchain_details": _blockchain_details(record)}
    elif resolution is not None and record.state is PayoutState.RESOLVED_PAID:
        event |= {
            "status": "completed",
            "source": IMPORT_OPERATOR if is_imported(record) else "operator_resolution",
            "evidence": resolution.evidence,
        }
        if resolution.reference is not None:
            event["predecessor_payment_id"] = resolution.reference
    elif resolution is not None:
        event |= {"status": "failed", "failure_reason": f"resolved as unpaid: {resolution.evidence}"}
    return event


def payment_history(records: Iterable[WalRecord]) -> dict[str, list[dict[str, Any]]]:
    """Per address, its paid payouts in payout order, as the summary's `payment_history`."""
    paid: dict[str, list[WalRecord]] = defaultdict(list)
    for record in records:
        if record.state in PAID_STATES:
            paid[record.address].append(record)
    return {address: [payment_event(r) for r in sorted(rs, key=lambda r: r.seq)] for address, rs in paid.items()}


def audit_key(settings: Settings, record: WalRecord) -> str:
    return f"{settings.payout_audit_prefix}{record.payout_id}.json"


def audit_document(record: WalRecord) -> dict[str, Any]:
    return {**payment_event(record), "state": record.state.value, "wal_record": record.model_dump(mode="json")}


async def write_audits(
    settings: Settings, records: Mapping[str, WalRecord], *, rewrite: Iterable[str] = ()
) -> list[str]:
    """Write the audit object of each terminal payout that has none yet, and of each payout in `rewrite`.

    Listing what exists makes this idempotent and self-healing: a round that crashed after settling a
    payout but before its audit write leaves it to the next round.
    """
    terminal = {payout_id: record for payout_id, record in records.items() if record.is_terminal}
    if not terminal:
        return []
    async with s3_client(settings) as s3:
        existing: set[str] = set()
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=settings.s3_metrics_bucket, Prefix=settings.payout_audit_prefix):
            existing.update(item["Key"] for item in page.get("Contents", []))
        forced = set(rewrite)
        written = []
        for payout_id, record in sorted(terminal.items()):
            key = audit_key(settings, record)
            if key in existing and payout_id not in forced:
                continue
            body = json.dumps(audit_document(record), indent=2, allow_nan=False).encode()
            await s3.put_object(Bucket=settings.s3_metrics_bucket, Key=key, Body=body, ContentType="application/json")
            written.append(key)
    if written:
        log.info("payout audits written", extra={"bucket": settings.s3_metrics_bucket, "count": len(written)})
    return written
