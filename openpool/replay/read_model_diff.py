"""How two app ids' state differs, per worker, in wei. Pure: snapshots in, differences out.

Blue/green: the live app (from) and an app rebuilt over the full history (to) are compared on what the
stream app derives: earnings per worker and partition key, connections per partition key, performance job
counts per bucket and the pool totals. Payouts are not derived state: a rebuilt app starts with an empty
payout WAL, so its WAL is compared only once it holds records (after a WAL handover). Instead, the live
WAL's paid amounts are checked against the rebuilt earnings: a worker paid more than the rebuild says it
earned is reported, whatever the exit status.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

_EARNINGS_FIELDS = ("total_fees", "pool_commission", "worker_earnings", "job_count")
_CONNECTION_FIELDS = ("connections", "active", "last_seen")
_PERFORMANCE_FIELDS = ("job_count", "total_fees", "total_compute_units")
_WEI_FIELDS = frozenset({"total_fees", "pool_commission", "worker_earnings"})

Cell = tuple[str, str, str]
"""(subject, where, field): subject is the worker address (the partition key for pool totals)."""


@dataclass(frozen=True, slots=True)
class PaidLedgerTotals:
    """What a payout WAL says was paid (confirmed) and may still be paid (in flight), per address."""

    records: int
    confirmed_wei: Mapping[str, int] = field(default_factory=dict)
    in_flight_wei: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AppSnapshot:
    """The read models of one app id, as their compacted topics hold them (values decoded from JSON)."""

    app_id: str
    earnings: Mapping[str, Any]
    connections: Mapping[str, Any]
    performance: Mapping[str, Any]
    pool_totals: Mapping[str, Any]
    payouts: PaidLedgerTotals


@dataclass(frozen=True, slots=True)
class Difference:
    model: str
    subject: str
    where: str
    field: str
    from_value: Any
    to_value: Any

    @property
    def in_wei(self) -> bool:
        return self.field in _WEI_FIELDS or self.field.endswith("_wei")

    @property
    def delta(self) -> int | None:
        if isinstance(self.from_value, int) and isinstance(self.to_value, int):
            return self.to_value - self.from_value
        return None


@dataclass(frozen=True, slots=True)
class PaidBeyondEarnings:
    """A worker whom the live WAL paid (or is paying) more than the rebuilt app says it earned."""

    address: str
    paid_wei: int
    rebuilt_earnings_wei: int


@dataclass(frozen=True, slots=True)
class DiffReport:
    from_app: str
    to_app: str
    differences: tuple[Difference, ...]
    paid_beyond_earnings: tuple[PaidBeyondEarnings, ...]
    compared: Mapping[str, int]
    """How many cells of each model were compared."""
    payouts_compared: bool

    @property
    def identical(self) -> bool:
        return not self.differences

    @property
    def workers(self) -> tuple[str, ...]:
        return tuple(sorted({d.subject for d in self.differences if d.model != "pool_totals"}))


def diff(source: AppSnapshot, target: AppSnapshot) -> DiffReport:
    models: list[tuple[str, dict[Cell, Any], dict[Cell, Any], Any]] = [
        ("earnings", _earnings_cells(source), _earnings_cells(target), 0),
        ("connections", _connection_cells(source), _connection_cells(target), None),
        ("performance", _performance_cells(source), _performance_cells(target), 0),
        ("pool_totals", _pool_total_cells(source), _pool_total_cells(target), 0),
    ]
    payouts_compared = target.payouts.records > 0
    if payouts_compared:
        models.append(("payouts", _payout_cells(source.payouts), _payout_cells(target.payouts), 0))
    differences: list[Difference] = []
    compared: dict[str, int] = {}
    for model, left, right, missing in models:
        cells = sorted(set(left) | set(right))
        compared[model] = len(cells)
        for cell in cells:
            before, after = left.get(cell, missing), right.get(cell, missing)
            if before != after:
                differences.append(Difference(model, *cell, before, after))
    return DiffReport(
        from_app=source.app_id,
        to_app=target.app_id,
        differences=tuple(differences),
        paid_beyond_earnings=_paid_beyond_earnings(source.payouts, target),
        compared=compared,
        payouts_compared=payouts_compared,
    )


def _earnings_cells(snapshot: AppSnapshot) -> dict[Cell, Any]:
    return {
        (address, pk, name): int(entry[name])
        for address, model in snapshot.earnings.items()
        for pk, entry in model["partitions"].items()
        for name in _EARNINGS_FIELDS
    }


def _connection_cells(snapshot: AppSnapshot) -> dict[Cell, Any]:
    cells: dict[Cell, Any] = {}
    for pk, workers in snapshot.connections.items():
        for worker in workers:
            for name in _CONNECTION_FIELDS:
                value = worker[name]
                cells[(worker["eth_address"], pk, name)] = sorted(value) if isinstance(value, list) else value
    return cells


def _performance_cells(snapshot: AppSnapshot) -> dict[Cell, Any]:
    cells: dict[Cell, Any] = {}
    for model in snapshot.performance.values():
        where = _bucket(model)
        for name in _PERFORMANCE_FIELDS:
            cells[(model["worker_address"], where, name)] = int(model["stats"][name])
    return cells


def _bucket(model: Mapping[str, Any]) -> str:
    workload = " ".join(part for part in (model.get("model_id"), model.get("pipeline")) if part)
    return " ".join(
        part
        for part in (model["partition_key"], workload, f"window={model['window']}s", f"start={model['start']}")
        if part
    )


def _pool_total_cells(snapshot: AppSnapshot) -> dict[Cell, Any]:
    return {(pk, "", name): value for pk, totals in snapshot.pool_totals.items() for name, value in totals.items()}


def _payout_cells(ledger: PaidLedgerTotals) -> dict[Cell, Any]:
    return dict(_payout_items(ledger))


def _payout_items(ledger: PaidLedgerTotals) -> Iterator[tuple[Cell, int]]:
    for name, amounts in (("confirmed_wei", ledger.confirmed_wei), ("in_flight_wei", ledger.in_flight_wei)):
        for address, amount in amounts.items():
            yield (address, "", name), amount


def _paid_beyond_earnings(paid: PaidLedgerTotals, rebuilt: AppSnapshot) -> tuple[PaidBeyondEarnings, ...]:
    found = []
    for address in sorted(set(paid.confirmed_wei) | set(paid.in_flight_wei)):
        paid_wei = paid.confirmed_wei.get(address, 0) + paid.in_flight_wei.get(address, 0)
        model = rebuilt.earnings.get(address)
        earned = int(model["worker_earnings"]) if model is not None else 0
        if paid_wei > earned:
            found.append(PaidBeyondEarnings(address, paid_wei, earned))
    return tuple(found)
