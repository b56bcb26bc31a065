"""Kafka's default partitioner with each key's hash kept.

Stage 1 forwards every job keyed by its worker's address and the read models are keyed by address, partition
key or bucket: a few thousand keys, each sent again and again. aiokafka's murmur2 is pure Python and took 2 %
of the worker's CPU hashing the same keys; the partition chosen is the default partitioner's (and the Java
client's), so records of a key go where they always went.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.partitioner import DefaultPartitioner, murmur2

KEPT_HASHES = 100_000
"""Keys whose hash is kept at most; past it the kept ones are dropped and hashed again when next sent."""


class KeyHashPartitioner:
    def __init__(self, kept: int = KEPT_HASHES) -> None:
        self._hashes: dict[bytes, int] = {}
        self._kept = kept

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return int(DefaultPartitioner()(key, all_partitions, available))
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self._kept:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]
