"""Where the payer writes WAL records. `append` returns only once the record is durable.

The payer broadcasts a transaction only after the record naming it was acknowledged, so an implementation
must not return before the write is safe (for Kafka: acks=all, a single partition, the payout id as key).
If `append` raises, the payer treats the write as possibly done and possibly lost, and stops.
"""

from __future__ import annotations

from typing import Protocol

from payments.wal import WalRecord, check_successor


class WalSink(Protocol):
    async def append(self, record: WalRecord) -> None: ...


class InMemoryWal:
    """A WAL kept in a list: for tests, dry runs, and as the reference behaviour of durable sinks."""

    def __init__(self, records: tuple[WalRecord, ...] | list[WalRecord] = ()) -> None:
        self._records: list[WalRecord] = list(records)

    @property
    def records(self) -> tuple[WalRecord, ...]:
        return tuple(self._records)

    async def append(self, record: WalRecord) -> None:
        for previous in reversed(self._records):
            if previous.payout_id == record.payout_id:
                check_successor(previous, record)
                break
        self._records.append(record)
