"""The `worker_summary.json` document of one partition, in the predecessor's shape (replaced-system.md §4.6-4.7).

Differences on purpose: `pending_fees` is computed now from current earnings minus confirmed payouts (the
predecessor's came from its last payment run); since payouts are per address over all partitions, pending
fees, payments and `payment_due` are the address's, while fees and earnings are this partition's.
Timestamps are UTC and amounts are JSON integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

WEI_PER_ETH = Decimal(10) ** 18


@dataclass(frozen=True, slots=True)
class WorkerFees:
    total_fees: int
    worker_earnings: int
    pool_commission: int


def eth(wei: int) -> float:
    """Display only: the `*_eth` fields are the one place a float amount may appear."""
    return float(Decimal(wei) / WEI_PER_ETH)


def worker_summary(
    *,
    region: str,
    node_type: str,
    now: datetime,
    fees: Mapping[str, WorkerFees],
    address_earnings_wei: Mapping[str, int],
    presence: Mapping[str, Mapping[str, Any]],
    paid_wei: Mapping[str, int],
    payment_history: Mapping[str, list[dict[str, Any]]],
    threshold_wei: int,
    commission_rate: Decimal,
    correlation_totals: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """`correlation_totals` (AI partitions): held, unattributed and unmatched jobs and fees, added to the
    aggregates so fees that reached no worker are visible, not lost."""
    workers: dict[str, dict[str, Any]] = {}
    for address in sorted(set(fees) | set(presence)):
        worker_fees = fees.get(address, WorkerFees(0, 0, 0))
        seen = presence.get(address, {})
        connections = list(seen.get("connections", []))
        history = payment_history.get(address, [])
        paid = paid_wei.get(address, 0)
        pending = max(address_earnings_wei.get(address, 0) - paid, 0)
        workers[address] = {
            "eth_address": address,
            "node_type": node_type,
            "region": region,
            "total_fees": worker_fees.total_fees,
            "worker_earnings": worker_fees.worker_earnings,
            "pool_commission": worker_fees.pool_commission,
            "connections": connections,
            "connection_count": len(connections),
            "active": bool(connections),
            "last_seen": seen.get("last_seen"),
            "payment_count": len(history),
            "payment_history": history,
            "last_payment_date": history[-1].get("timestamp") if history else None,
            "total_fees_paid": paid,
            "pending_fees": pending,
            "pending_eth": eth(pending),
            "payment_due": pending >= threshold_wei,
        }
    listed = list(workers.values())
    total_fees = sum(w["total_fees"] for w in listed)
    total_paid = sum(w["total_fees_paid"] for w in listed)
    total_pending = sum(w["pending_fees"] for w in listed)
    active = sum(1 for w in listed if w["active"])
    return {
        "export_timestamp": now.strftime("%Y%m%d_%H%M%S"),
        "data": {
            "node_type": node_type,
            "region": region,
            "timestamp": now.isoformat(),
            "workers": workers,
            "aggregates": {
                "total_workers": len(listed),
                "active_workers": active,
                "total_fees": total_fees,
                "total_fees_paid": total_paid,
                "total_pending_fees": total_pending,
                "total_connections": sum(w["connection_count"] for w in listed),
                "total_payments": sum(w["payment_count"] for w in listed),
                "total_pool_commission": sum(w["pool_commission"] for w in listed),
                "total_worker_earnings": sum(w["worker_earnings"] for w in listed),
                "pool_commission_rate": float(commission_rate),
                "workers_eligible_for_payment": sum(1 for w in listed if w["payment_due"]),
                "total_pending_eth": eth(total_pending),
                "total_fees_eth": eth(total_fees),
                "total_fees_paid_eth": eth(total_paid),
                "active_worker_percentage": round(100.0 * active / len(listed), 2) if listed else 0.0,
                **dict(correlation_totals or {}),
            },
        },
    }
