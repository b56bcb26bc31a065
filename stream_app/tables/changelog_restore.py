"""Restoring the tables from their changelogs before Faust starts, with a plain batch read into RocksDB.

Faust restores a changelog one record at a time through its event machinery: about 140 µs of CPU per record
here, 6–7k records/s where a plain consumer reads over 100k/s, so a worker with an empty data dir (a new pod, a
lost volume, any unclean end: `local_state`) would take minutes over a state of a million records. Faust starts
its own recovery of a partition at the offset that partition's database says it holds (the `__faust\\0offset__`
key, which its own restore sets to the last offset applied). So the worker first fills each table partition's
database exactly as Faust's `Store.apply_changelog_batch` would (the record's key and value bytes as they are;
a tombstone deletes the key), with that offset written in the same RocksDB write batch as the values it covers,
and Faust's recovery then only reads what arrived since.

Every partition of every table is restored, not only those this worker will be assigned, which the group decides
later: Faust's recovery continues from any database that holds a prefix of its changelog with the matching
offset when the partition is assigned. If the restore fails part way (broker gone, a timeout), each database
still holds a prefix with its offset, and Faust's recovery reads the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TableT
from rocksdict import Rdict, WriteBatch

from openpool.topics import partitions_of

log = logging.getLogger(__name__)

OFFSET_KEY = b"__faust\0offset__"
"""Where Faust's RocksDB store keeps the last changelog offset a partition's database holds."""
FETCH_MAX_BYTES = 64 * 1024 * 1024
PARTITION_FETCH_MAX_BYTES = 8 * 1024 * 1024
STALL_SECONDS = 30.0
"""No record for this long while some are still due: the rest is left to Faust's recovery."""


@dataclass(frozen=True, slots=True)
class RestoredTables:
    records: int
    partitions: int
    """Table partitions that had records to read."""
    seconds: float
    complete: bool
    """False if the restore stopped early; Faust's recovery reads what is left."""


@dataclass(slots=True)
class _Partition:
    path: Path
    store: Any
    """Faust's RocksDB store of the table: its options, so that Faust opens what is written here."""
    db: Rdict | None
    """Open while the restore runs, if the database existed or records were written to it."""
    applied: int | None
    """The last offset the database holds (Faust's persisted offset)."""
    end: int = 0
    """The changelog's end offset when the restore began."""
    batch: WriteBatch = field(default_factory=lambda: WriteBatch(raw_mode=True))
    pending: int = 0

    def apply(self, offset: int, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.batch.delete(key)
        else:
            self.batch.put(key, value)
        self.applied = offset
        self.pending += 1

    def write(self) -> None:
        if self.pending:
            if self.db is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = self.store.rocksdb_options.open(self.path)
            self.batch.put(OFFSET_KEY, str(self.applied).encode())
            self.db.write(self.batch)
            self.batch = WriteBatch(raw_mode=True)
            self.pending = 0

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


async def restore_tables(tables: Iterable[TableT[Any, Any]], bootstrap_servers: str) -> RestoredTables:
    """Bring every partition database of `tables` up to its changelog's end; call before Faust opens them."""
    began = time.monotonic()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=FETCH_MAX_BYTES,
        max_partition_fetch_bytes=PARTITION_FETCH_MAX_BYTES,
    )
    tables = list(tables)
    partitions: dict[TopicPartition, _Partition] = {}
    records = 0
    complete = False
    try:
        numbers, _ = await asyncio.gather(
            partitions_of(bootstrap_servers, [_changelog(table) for table in tables]), consumer.start()
        )
        for table in tables:
            partitions.update(_open_partitions(table, numbers.get(_changelog(table), [])))
        due = await _due(consumer, partitions)
        log.info(
            "restoring tables from their changelogs",
            extra={
                "partitions": len(due),
                "records_at_most": sum(partitions[tp].end - start for tp, start in due.items()),
            },
        )
        if due:
            consumer.assign(list(due))
            for tp, start in due.items():
                consumer.seek(tp, start)
        records, complete = await _read(consumer, partitions, set(due))
    finally:
        for partition in partitions.values():
            partition.close()
        await consumer.stop()
    restored = RestoredTables(records, len(due), time.monotonic() - began, complete)
    log.info(
        "tables restored from their changelogs",
        extra={
            "records": restored.records,
            "partitions": restored.partitions,
            "seconds": round(restored.seconds, 3),
            "complete": restored.complete,
        },
    )
    return restored


def _changelog(table: TableT[Any, Any]) -> str:
    return table.changelog_topic.get_topic_name()


def _open_partitions(table: TableT[Any, Any], partitions: list[int]) -> dict[TopicPartition, _Partition]:
    """Each partition's database as it is; one that does not exist yet is created only if it gets records."""
    store: Any = table.data  # Faust's RocksDB store: its paths and options
    opened = {}
    for number in partitions:
        path = Path(store.partition_path(number))
        db = store.rocksdb_options.open(path) if path.exists() else None
        held = None if db is None else db.get(OFFSET_KEY)
        opened[TopicPartition(_changelog(table), number)] = _Partition(
            path, store, db, None if held is None else int(held)
        )
    return opened


async def _due(consumer: AIOKafkaConsumer, partitions: dict[TopicPartition, _Partition]) -> dict[TopicPartition, int]:
    """The partitions with records past what their database holds, and the offset to read each from."""
    if not partitions:
        return {}
    ends, beginnings = await asyncio.gather(
        consumer.end_offsets(list(partitions)), consumer.beginning_offsets(list(partitions))
    )
    due = {}
    for tp, partition in partitions.items():
        partition.end = ends[tp]
        start = beginnings[tp] if partition.applied is None else max(partition.applied + 1, beginnings[tp])
        if start < partition.end:
            due[tp] = start
    return due


async def _read(
    consumer: AIOKafkaConsumer, partitions: dict[TopicPartition, _Partition], due: set[TopicPartition]
) -> tuple[int, bool]:
    records = 0
    last_record = time.monotonic()
    while due:
        fetched = await consumer.getmany(timeout_ms=1000, max_records=50_000)
        for tp, batch in fetched.items():
            partition = partitions[tp]
            for record in batch:
                partition.apply(record.offset, record.key, record.value)
            partition.write()  # one write batch per partition and fetch: memory stays within one fetch
            records += len(batch)
        if fetched:
            last_record = time.monotonic()
        for tp in list(due):
            # Offsets of a compacted log have gaps: the position, not the last record, says it is read to the end.
            if await consumer.position(tp) >= partitions[tp].end:
                consumer.pause(tp)
                due.discard(tp)
        if due and time.monotonic() - last_record > STALL_SECONDS:
            log.warning(
                "changelog restore stalled; Faust's recovery reads the rest",
                extra={"partitions_left": len(due), "records": records},
            )
            return records, False
    return records, True
