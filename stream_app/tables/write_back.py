"""Decoded table values held in memory, and a batch's writes held back until its checkpoint.

An agent applies a whole batch of records to decoded values here, with no store read after the first and no
encoding per record; the checkpoint (`stream_app.checkpoint`) then writes each changed key once, as Kafka
Streams' record cache and Quix Streams' transaction cache do. Rule 2 of docs/design.md holds per key: every
value carries its own guard, so a flushed value is its key's state after a prefix of its partition, whichever
of a batch's writes a crash loses.

Values are stored as JSON bytes (`openpool.domain.fast_json`: exact for integers past 2^64, nesting bounded),
the same JSON Faust's own codec wrote, so existing changelogs still decode. The store is only read on a cache
miss and written at a checkpoint.

Clean values (equal to the store's) are kept across batches while the assignment lasts; a rebalance drops
them (`forget_clean`), since another worker may change a key while it is not ours. A batch's own writes are
kept through a rebalance until its checkpoint writes them, and are not kept as clean afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from openpool.domain import fast_json

V = TypeVar("V")

CLEAN_LIMIT = 200_000
"""Clean values kept at most per table: past it they are dropped at a checkpoint and read again when needed."""


@dataclass(frozen=True, slots=True)
class _Stored:
    """A value in the store's form, decoded when first read (a journal being redone)."""

    stored: Any
    """JSON data (decoded bytes)."""


@dataclass(slots=True)
class _Write(Generic[V]):
    value: V | _Stored | None
    """None deletes the key."""
    event: Any
    """An event of the key's source partition: Faust sends a table write to that partition of the changelog."""
    existed: bool
    """Whether the store held the key before the batch; a key created and deleted in one batch is not written."""
    owner: str
    """The key whose change this write belongs to (itself, or a correlation head)."""


class WriteBack(Generic[V]):
    def __init__(
        self,
        store: MutableMapping[str, Any],
        decode: Callable[[Any], V],
        encode: Callable[[V], Any],
        clean_limit: int = CLEAN_LIMIT,
    ) -> None:
        self._store = store
        self._decode = decode
        self._encode = encode
        self._clean: dict[str, V] = {}
        self._writes: dict[str, _Write[V]] = {}
        self._stale = False
        self._clean_limit = clean_limit

    def get(self, key: str, decode: Callable[[Any], V] | None = None) -> V | None:
        """The key's value as the batch left it; `decode` reads the store's form where values of several types
        share the table."""
        decoder = decode or self._decode
        write = self._writes.get(key)
        if write is not None:
            if isinstance(write.value, _Stored):
                write.value = decoder(write.value.stored)
            return write.value
        value = self._clean.get(key)
        if value is not None:
            return value
        stored = self._store.get(key)
        if stored is None:
            return None
        value = decoder(fast_json.loads(stored))
        if not self._stale:
            self._clean[key] = value
        return value

    def put(self, key: str, value: V | None, event: Any, owner: str | None = None) -> None:
        self._put(key, value, event, owner)

    def put_stored(self, key: str, stored: Any, event: Any, owner: str | None = None) -> None:
        """Write a value in its stored JSON form again (a journal being redone)."""
        self._put(key, None if stored is None else _Stored(stored), event, owner)

    def _put(self, key: str, value: V | _Stored | None, event: Any, owner: str | None) -> None:
        write = self._writes.get(key)
        if write is not None:
            write.value, write.event = value, event
            return
        existed = key in self._clean or self._store.get(key) is not None
        self._writes[key] = _Write(value, event, existed, key if owner is None else owner)

    @property
    def changed(self) -> int:
        """How many keys the batch has changed."""
        return len(self._writes)

    def writes(self) -> Iterator[tuple[str, Any, Any, str]]:
        """(key, JSON data or None to delete, event, owner) for every key the batch changed, in first-write
        order; keys created and deleted within the batch are left out."""
        for key, write in self._writes.items():
            if write.value is None and not write.existed:
                continue
            yield key, self._stored_form(write.value), write.event, write.owner

    def _stored_form(self, value: V | _Stored | None) -> Any:
        if value is None:
            return None
        if isinstance(value, _Stored):
            return value.stored
        return self._encode(value)

    def write(self, key: str, data: Any) -> None:
        """Write one key's JSON data to the store, None to delete it (the caller has made an event of its
        partition current)."""
        if data is not None:
            self._store[key] = fast_json.dumps(data)
        elif key in self._store:
            del self._store[key]

    def checkpointed(self) -> None:
        """The batch's writes are in the store: keep them as clean values, unless a rebalance came meanwhile."""
        if not self._stale:
            for key, write in self._writes.items():
                if write.value is None or isinstance(write.value, _Stored):
                    self._clean.pop(key, None)
                else:
                    self._clean[key] = write.value
            if len(self._clean) > self._clean_limit:
                self._clean.clear()
        self._writes.clear()
        self._stale = False

    def abandon(self) -> None:
        """The batch's writes will not be made (its records are delivered again): forget them and every value."""
        self._writes.clear()
        self._clean.clear()

    def forget_clean(self) -> None:
        """A rebalance: values read so far may be changed by another worker from now on."""
        self._clean.clear()
        self._stale = True
