"""A data set is a pure function of its configuration and seed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from openpool.generator import GeneratedDataSet, GeneratorConfig, GeneratorConfigError, generate
from openpool.generator.pool_model import Partition
from tests.generator.conftest import FAULTY


def test_the_same_seed_gives_the_same_bytes_and_manifest(faulty: GeneratedDataSet) -> None:
    again = generate(FAULTY, seed=faulty.seed)

    assert again.files == faulty.files
    assert again.manifest_json() == faulty.manifest_json()


def test_another_seed_gives_other_workers_and_files(faulty: GeneratedDataSet) -> None:
    other = generate(FAULTY, seed=faulty.seed + 1)
    bodies = {body for _, body in faulty.files} - {b"null"}

    assert not bodies & {body for _, body in other.files}
    assert not {a for a, _, _ in faulty.manifest.workers} & {a for a, _, _ in other.manifest.workers}


def test_the_start_moves_every_stamp_and_nothing_else(faulty: GeneratedDataSet) -> None:
    later = generate(replace(FAULTY, start=FAULTY.start.replace(hour=16)), seed=faulty.seed)

    assert [key.replace("T16", "T15") for key, _ in later.files] == [key for key, _ in faulty.files]
    assert later.manifest.fees_by_worker == faulty.manifest.fees_by_worker


def test_the_partition_set_is_configurable() -> None:
    partitions = (Partition("eu-central", "ai"), Partition("us-west", "transcode"))
    dataset = generate(GeneratorConfig(partitions=partitions, workers=4, jobs_per_second=5), seed=3)

    assert {key.rsplit("/", 1)[0] for key, _ in dataset.files} == {"eu-central/ai", "us-west/transcode"}


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"workers": 4}, "workers"),
        ({"late_rate": 1.5}, "late_rate"),
        ({"jobs_per_second": -1}, "jobs_per_second"),
        ({"partitions": ()}, "partition"),
        ({"start": FAULTY.start.replace(tzinfo=None)}, "time zone"),
    ],
)
def test_a_config_that_describes_no_pool_is_refused(changes: dict[str, object], complaint: str) -> None:
    with pytest.raises(GeneratorConfigError, match=complaint):
        replace(FAULTY, **changes)  # type: ignore[arg-type]


def test_partitions_are_region_and_node_type_like_the_s3_prefix() -> None:
    assert Partition.parse("us-central/ai") == Partition("us-central", "ai")
    with pytest.raises(ValueError, match="region/node_type"):
        Partition.parse("us-central|ai")
