"""The worker's producer partitions by key exactly as Kafka's default partitioner (stream_app/partitioner.py)."""

from __future__ import annotations

from random import Random

from aiokafka.partitioner import DefaultPartitioner

from stream_app.partitioner import KeyHashPartitioner


def test_every_key_goes_to_the_default_partitioners_partition_however_often_it_is_sent() -> None:
    rng = Random(5)
    keys = [rng.randbytes(rng.randrange(0, 60)) for _ in range(500)] + [b"0xAbC|us-central|ai", b""]
    partitioner = KeyHashPartitioner(kept=64)  # small, so the kept hashes are dropped and made again
    for _ in range(3):
        for key in keys:
            for count in (1, 3, 8, 16):
                partitions = list(range(count))
                assert partitioner(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    assert KeyHashPartitioner()(None, [0, 1, 2, 3], [2]) == 2
