"""The bridge's progress: one record per S3 key in a compacted topic, and the index rebuilt from it.

A record says which version (ETag) of a key is published and whether it is archived. It is produced only
after every record of that version is acknowledged, so the topic never claims more than is in Kafka. On
start the bridge reads the topic from the beginning to its end offsets: a bridge restarted anywhere
continues where the last one stopped.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from aiokafka import AIOKafkaProducer
from pydantic import AwareDatetime, BaseModel, ConfigDict, NonNegativeInt, ValidationError

from openpool.domain.event_files import SourceKey
from openpool.topic_reader import read_to_end

log = logging.getLogger(__name__)


class ProgressRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    key: str
    version: str
    size: NonNegativeInt
    last_modified: AwareDatetime
    events: NonNegativeInt
    dead_letters: NonNegativeInt
    published_at: AwareDatetime
    archived: bool = False
    skipped_events: NonNegativeInt = 0
    previous_version: str | None = None

    def encode(self) -> bytes:
        return self.model_dump_json(exclude={"key"}).encode()

    @classmethod
    def decode(cls, key: bytes, value: bytes) -> ProgressRecord:
        document = json.loads(value)
        if not isinstance(document, dict):
            raise ValueError("progress value is not a JSON object")
        return cls.model_validate({**document, "key": key.decode()})


class ProgressIndex:
    """The latest progress record of every key, and per prefix the newest flush start published."""

    def __init__(self) -> None:
        self._records: dict[str, ProgressRecord] = {}
        self._watermarks: dict[str, datetime] = {}
        self._unarchived: dict[str, None] = {}

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: str) -> ProgressRecord | None:
        return self._records.get(key)

    def version_of(self, key: str) -> str | None:
        record = self._records.get(key)
        return record.version if record is not None else None

    def watermark(self, prefix: str) -> datetime | None:
        return self._watermarks.get(prefix)

    def unarchived(self) -> list[ProgressRecord]:
        """Published versions not yet copied to the archive, oldest mark first."""
        return [self._records[key] for key in self._unarchived]

    def apply(self, record: ProgressRecord) -> None:
        self._records[record.key] = record
        self._unarchived.pop(record.key, None)
        if not record.archived:
            self._unarchived[record.key] = None
        source = SourceKey.parse(record.key)
        if source is not None:
            current = self._watermarks.get(source.prefix)
            if current is None or source.start > current:
                self._watermarks[source.prefix] = source.start

    def forget(self, key: str) -> None:
        """A tombstone: the key's history was removed on purpose (the watermark may stay ahead of it)."""
        self._records.pop(key, None)
        self._unarchived.pop(key, None)


async def load_progress(bootstrap_servers: str, topic: str) -> ProgressIndex:
    """Read the progress topic from the beginning up to the end offsets seen at start."""
    index = ProgressIndex()
    async for record in read_to_end(bootstrap_servers, topic):
        _apply_message(index, record.key, record.value, record.offset)
    log.info("progress loaded", extra={"topic": topic, "keys": len(index)})
    return index


def _apply_message(index: ProgressIndex, key: bytes | None, value: bytes | None, offset: int) -> None:
    if key is None:
        log.error("progress record without key ignored", extra={"offset": offset})
        return
    if value is None:
        index.forget(key.decode())
        return
    try:
        index.apply(ProgressRecord.decode(key, value))
    except (ValueError, ValidationError) as error:
        # The file is then published again: a duplicate downstream drops, never a loss.
        log.error(
            "unreadable progress record ignored",
            extra={"key": key.decode(errors="replace"), "offset": offset, "error": str(error)[:300]},
        )


async def mark(producer: AIOKafkaProducer, topic: str, record: ProgressRecord) -> None:
    """Produce the record and wait for the broker's acknowledgement."""
    await producer.send_and_wait(topic, value=record.encode(), key=record.key.encode())
