"""Reading one app id's read models and payout WAL into an `AppSnapshot`, without touching the app."""

from __future__ import annotations

import asyncio

from openpool.replay.read_model_diff import AppSnapshot, PaidLedgerTotals
from openpool.settings import TopicNames
from openpool.topics import partitions_of
from payments.kafka_wal import read_wal
from payments.wal import ledger_from_wal
from stream_app.read_models import ReadModel


class AppNotFoundError(RuntimeError):
    """The app id has no read-model topics: it never ran here, or the name is mistyped."""


async def load_snapshot(bootstrap_servers: str, app_id: str) -> AppSnapshot:
    topics = TopicNames(app_id)
    names = {
        "earnings": topics.earnings,
        "connections": topics.connections,
        "performance": topics.performance,
        "pool_totals": topics.pool_totals,
    }
    existing = await partitions_of(bootstrap_servers, [*names.values(), topics.payout_wal])
    missing = sorted(topic for topic in names.values() if topic not in existing)
    if missing:
        raise AppNotFoundError(f"app {app_id}: no topic {', '.join(missing)}")
    values = await asyncio.gather(*(_read_model(bootstrap_servers, topic) for topic in names.values()))
    models = dict(zip(names, values, strict=True))
    payouts = PaidLedgerTotals(records=0)
    if topics.payout_wal in existing:
        records = await read_wal(bootstrap_servers, topics.payout_wal)
        ledger = ledger_from_wal(records)
        payouts = PaidLedgerTotals(len(records), dict(ledger.confirmed_wei), dict(ledger.in_flight_wei))
    return AppSnapshot(
        app_id=app_id,
        earnings=models["earnings"],
        connections=models["connections"],
        performance=models["performance"],
        pool_totals=models["pool_totals"],
        payouts=payouts,
    )


async def _read_model(bootstrap_servers: str, topic: str) -> dict[str, object]:
    model = ReadModel(bootstrap_servers, topic)
    await model.start()
    try:
        await model.caught_up(within_seconds=120.0)
        return dict(model.values)
    finally:
        await model.stop()
