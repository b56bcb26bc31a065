"""`replay hand-over-wal`: the old app id's payout WAL into the new one's, before the new payer may run.

Executing takes the old WAL over first (open_payout_wal fences every payer of the old app id, so none of
them can record, and so broadcast, anything more), reads it, then takes the new WAL over and appends what it
lacks. A payout left open in the old WAL is handed over open: the new payer recovers it against the chain,
as any payer does on start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from openpool.replay.wal_handover_plan import handover_records
from openpool.settings import Settings
from openpool.topics import partitions_of
from payments.kafka_wal import open_payout_wal, read_wal
from payments.wal import WalRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Handover:
    source_records: int
    target_records: int
    appended: tuple[WalRecord, ...]
    executed: bool


async def hand_over_wal(source: Settings, target: Settings, *, execute: bool) -> Handover:
    if not execute:
        source_wal = await _read(source)
        target_wal = await _read(target)
        return Handover(len(source_wal), len(target_wal), handover_records(source_wal, target_wal), executed=False)
    async with open_payout_wal(source) as old, open_payout_wal(target) as new:
        records = handover_records(old.records, new.records)
        for record in records:
            await new.append(record)
        log.info(
            "payout WAL handed over",
            extra={"from_topic": source.topics.payout_wal, "topic": target.topics.payout_wal, "records": len(records)},
        )
        return Handover(len(old.records), len(new.records) - len(records), records, executed=True)


async def _read(settings: Settings) -> tuple[WalRecord, ...]:
    topic = settings.topics.payout_wal
    if topic not in await partitions_of(settings.kafka_bootstrap_servers, [topic]):
        return ()
    return await read_wal(settings.kafka_bootstrap_servers, topic)
