"""The invariant every table partition's RocksDB database must keep: it holds exactly the last value of each key
in its changelog up to the offset it says it holds (`__faust\\0offset__`). A database whose offset runs past
values it lacks loses them silently, since Faust's recovery starts reading after that offset. (Checked on
changelogs the broker has not compacted yet, as in tests: compaction may drop a value the prefix still holds.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpool.settings import Settings
from openpool.topic_reader import read_to_end
from stream_app.tables.changelog_restore import OFFSET_KEY
from stream_app.worker import build


async def prefix_mismatches(settings: Settings) -> list[str]:
    """Each database under `settings.data_dir` (of a stopped worker) that is not a prefix of its changelog."""
    stream_app, _ = build(settings)
    mismatches = []
    for table in stream_app.app.tables.values():
        topic = table.changelog_topic.get_topic_name()
        records = [record async for record in read_to_end(settings.kafka_bootstrap_servers, topic)]
        for partition in range(table.partitions):
            path = Path(table.data.partition_path(partition))  # type: ignore[attr-defined]
            if not path.exists():
                continue
            held = database_items(table, partition)
            offset = held.pop(OFFSET_KEY, None)
            expected: dict[bytes, bytes] = {}
            for record in records:
                if record.partition != partition or offset is None or record.offset > int(offset):
                    continue
                assert record.key is not None
                if record.value is None:
                    expected.pop(record.key, None)
                else:
                    expected[record.key] = record.value
            if held != expected:
                missing = sorted(key for key in expected if held.get(key) != expected[key])
                extra = sorted(key for key in held if key not in expected)
                mismatches.append(f"{path.name} at offset {offset!r}: wrong or missing {missing}, extra {extra}")
    return mismatches


def database_items(table: Any, partition: int) -> dict[bytes, bytes]:
    """Every key and value in a table partition's database, opened as Faust opens it (the worker stopped)."""
    db = table.data.rocksdb_options.open(Path(table.data.partition_path(partition)))
    try:
        return dict(db.items())
    finally:
        db.close()
