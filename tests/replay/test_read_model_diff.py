"""Blue/green diff: per worker, in wei, of what the stream app derives; payouts only once the rebuilt WAL has any."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openpool.replay.read_model_diff import AppSnapshot, PaidLedgerTotals, diff

WORKER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
OTHER = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
PK = "us-central|transcode"


def entry(fees: int, jobs: int) -> dict[str, int]:
    return {"total_fees": fees, "pool_commission": fees // 4, "worker_earnings": fees - fees // 4, "job_count": jobs}


def snapshot(app_id: str, payouts: PaidLedgerTotals | None = None) -> AppSnapshot:
    earnings: dict[str, Any] = {
        address: {"worker_address": address, "worker_earnings": e["worker_earnings"], "partitions": {PK: e}}
        for address, e in ((WORKER, entry(1000, 3)), (OTHER, entry(400, 1)))
    }
    connections = {
        PK: [
            {
                "eth_address": WORKER,
                "connections": ["10.0.0.1:4000", "10.0.0.2:4000"],
                "active": True,
                "last_seen": "2026-11-25T12:00:00+00:00",
            }
        ]
    }
    performance = {
        f"{WORKER}|{PK}||#3600#1795608000": {
            "worker_address": WORKER,
            "partition_key": PK,
            "model_id": None,
            "pipeline": None,
            "window": 3600,
            "start": 1795608000,
            "stats": {"job_count": 3, "total_fees": 1000, "total_compute_units": 77},
        }
    }
    totals = {"us-central|ai": {"held_jobs": 0, "unattributed_fees_wei": 0}}
    return AppSnapshot(app_id, earnings, connections, performance, totals, payouts or PaidLedgerTotals(0))


def test_two_apps_with_the_same_read_models_are_identical_although_only_the_live_one_has_paid() -> None:
    live = snapshot("blue", PaidLedgerTotals(2, confirmed_wei={WORKER: 500}))
    report = diff(live, snapshot("green"))
    assert report.identical
    assert not report.payouts_compared
    assert report.paid_beyond_earnings == ()
    assert report.compared["earnings"] == 8


def test_a_missing_job_shows_as_wei_differences_of_the_worker_in_its_partition() -> None:
    rebuilt = snapshot("green")
    rebuilt.earnings[WORKER]["partitions"][PK] = entry(900, 2)
    report = diff(snapshot("blue"), rebuilt)
    assert report.workers == (WORKER,)
    worker_earnings = next(d for d in report.differences if d.field == "worker_earnings")
    assert (worker_earnings.model, worker_earnings.where, worker_earnings.delta) == ("earnings", PK, 675 - 750)
    assert worker_earnings.in_wei


def test_a_worker_only_one_app_knows_differs_from_zero_earnings() -> None:
    full = snapshot("green")
    rebuilt = replace(full, earnings={address: model for address, model in full.earnings.items() if address != OTHER})
    report = diff(snapshot("blue"), rebuilt)
    assert {(d.subject, d.field, d.from_value, d.to_value) for d in report.differences} >= {
        (OTHER, "worker_earnings", 300, 0),
        (OTHER, "job_count", 1, 0),
    }


def test_connections_performance_and_pool_totals_are_compared_per_worker_and_partition() -> None:
    rebuilt = snapshot("green")
    rebuilt.connections[PK][0]["connections"] = ["10.0.0.2:4000", "10.0.0.1:4000"]  # order does not matter
    assert diff(snapshot("blue"), rebuilt).identical
    rebuilt.connections[PK][0]["active"] = False
    next(iter(rebuilt.performance.values()))["stats"]["job_count"] = 2
    rebuilt.pool_totals["us-central|ai"]["held_jobs"] = 1
    changed = {(d.model, d.subject, d.field) for d in diff(snapshot("blue"), rebuilt).differences}
    assert changed == {
        ("connections", WORKER, "active"),
        ("performance", WORKER, "job_count"),
        ("pool_totals", "us-central|ai", "held_jobs"),
    }


def test_a_rebuilt_wal_that_holds_records_is_compared_with_the_live_one() -> None:
    live = snapshot("blue", PaidLedgerTotals(1, confirmed_wei={WORKER: 500}))
    handed_over = snapshot("green", PaidLedgerTotals(1, confirmed_wei={WORKER: 500}))
    paid_again = snapshot("green", PaidLedgerTotals(1, confirmed_wei={WORKER: 1000}))
    assert diff(live, handed_over).identical and diff(live, handed_over).payouts_compared
    (difference,) = diff(live, paid_again).differences
    assert (difference.model, difference.subject, difference.delta) == ("payouts", WORKER, 500)


def test_a_worker_paid_more_than_the_rebuild_says_it_earned_is_reported() -> None:
    live = snapshot("blue", PaidLedgerTotals(1, confirmed_wei={OTHER: 250}, in_flight_wei={OTHER: 100}))
    (overpaid,) = diff(live, snapshot("green")).paid_beyond_earnings
    assert (overpaid.address, overpaid.paid_wei, overpaid.rebuilt_earnings_wei) == (OTHER, 350, 300)
