"""Files laid out and formatted like the go-livepeer tracker's (replaced-system.md §1)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

from openpool.domain.event_files import SourceKey
from openpool.domain.events import EventType, parse_dt
from openpool.generator import ACTIVE_PARTITIONS, GeneratedDataSet, GeneratorConfig, generate
from openpool.generator.emitter import Body, Emission, FlushPolicy, flushes
from openpool.generator.pool_model import Partition

KEY = re.compile(
    r"(?P<region>[a-z-]+)/(?P<node_type>ai|transcode)/(?P=region)-(?P=node_type)-"
    r"(?P<start>\d{8}T\d{6}Z)_(?P<end>\d{8}T\d{6}Z)\.json"
)
PARTITION = Partition("us-central", "transcode")


def _readable(dataset: GeneratedDataSet) -> dict[str, list[dict[str, object]]]:
    bodies = dict(dataset.files)
    return {entry.key: json.loads(bodies[entry.key]) for entry in dataset.manifest.files if entry.body is Body.EVENTS}


def test_keys_follow_the_emitter_layout_and_the_contract_parses_them(faulty: GeneratedDataSet) -> None:
    prefixes = {f"{p.region}/{p.node_type}/" for p in ACTIVE_PARTITIONS}

    for key, _ in faulty.files:
        assert KEY.fullmatch(key), key
        source = SourceKey.parse(key)
        assert source is not None
        assert source.prefix in prefixes
    assert {SourceKey.parse(key).prefix for key, _ in faulty.files} == prefixes  # type: ignore[union-attr]


def test_key_stamps_are_the_first_and_last_event_dt(faulty: GeneratedDataSet) -> None:
    for key, envelopes in _readable(faulty).items():
        source = SourceKey.parse(key)
        assert source is not None
        assert (source.start, source.end) == (parse_dt(envelopes[0]["DT"]), parse_dt(envelopes[-1]["DT"]))  # type: ignore[arg-type]
    for entry in faulty.manifest.files:
        source = SourceKey.parse(entry.key)
        assert source is not None
        assert (source.start, source.end) == (parse_dt(entry.first_dt), parse_dt(entry.last_dt))


def test_bodies_are_arrays_pretty_printed_with_two_spaces_and_sorted_keys(faulty: GeneratedDataSet) -> None:
    bodies = dict(faulty.files)
    for key, envelopes in _readable(faulty).items():
        assert bodies[key] == json.dumps(envelopes, indent=2, sort_keys=True).encode()
        assert bodies[key].startswith(b'[\n  {\n    "DT": "')


def test_envelopes_carry_fresh_uuid4_ids_version_1_and_the_process_node_type(faulty: GeneratedDataSet) -> None:
    ids = []
    for key, envelopes in _readable(faulty).items():
        region, node_type = key.split("/")[:2]
        for envelope in envelopes:
            assert uuid.UUID(str(envelope["ID"])).version == 4
            assert envelope["Version"] == 1
            assert envelope["NodeType"] == node_type
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(envelope["DT"]))
            ids.append(envelope["ID"])
        # Only the injected partition mismatches name another region.
        assert sum(envelope["Region"] != region for envelope in envelopes) == faulty.manifest.file(key).rejected.get(
            "partition_mismatch", 0
        )
    assert len(ids) == len(set(ids))


def test_every_partition_stream_starts_with_an_orchestrator_reset(clean: GeneratedDataSet) -> None:
    firsts: dict[str, dict[str, object]] = {}
    for key, envelopes in sorted(_readable(clean).items()):
        firsts.setdefault(key.rsplit("/", 1)[0], envelopes[0])

    assert len(firsts) == len(ACTIVE_PARTITIONS)
    assert all(first["EventType"] == EventType.ORCHESTRATOR_RESET for first in firsts.values())
    assert all(first["DT"] == "2025-11-05T15:00:0" + str(first["DT"])[-2:] for first in firsts.values())


def test_a_file_never_spans_more_than_one_flush_interval(clean: GeneratedDataSet) -> None:
    for entry in clean.manifest.files:
        span = parse_dt(entry.last_dt) - parse_dt(entry.first_dt)
        assert span <= timedelta(seconds=clean.config.flush_seconds)


def test_the_threshold_flushes_a_full_buffer_at_once() -> None:
    config = GeneratorConfig(
        duration=timedelta(minutes=2), workers=10, jobs_per_second=40, flush_threshold=300, broken_file_rate=0
    )
    dataset = generate(config, seed=2)
    sizes = [len(file.emissions) for file in dataset.event_files]

    assert max(sizes) == 300
    assert sizes.count(300) >= 5


def test_the_ticker_flushes_every_interval_from_process_start() -> None:
    emitted = [Emission(at, EventType.JOB_PROCESSED, {}) for at in (1.5, 10, 61.4, 62, 130)]
    done = flushes(PARTITION, [Emission(1.0, EventType.ORCHESTRATOR_RESET, {}), *emitted], FlushPolicy(60, 100), 200)

    assert [[e.at for e in flush.emissions] for flush in done] == [[1.0, 1.5, 10], [61.4, 62], [130]]
    assert [flush.flushed_at for flush in done] == [61.0, 121.0, 181.0]


def test_a_restart_flushes_what_the_old_process_held_and_restarts_the_ticker() -> None:
    events = [
        Emission(0.0, EventType.ORCHESTRATOR_RESET, {}),
        Emission(5.0, EventType.JOB_PROCESSED, {}),
        Emission(30.0, EventType.ORCHESTRATOR_RESET, {}),
        Emission(80.0, EventType.JOB_PROCESSED, {}),
        Emission(95.0, EventType.JOB_PROCESSED, {}),
    ]
    done = flushes(PARTITION, events, FlushPolicy(60, 100), 120)

    assert [[e.at for e in flush.emissions] for flush in done] == [[0.0, 5.0], [30.0, 80.0], [95.0]]
    assert [flush.flushed_at for flush in done] == [30.0, 90.0, 120]


def test_a_quiet_interval_writes_no_file() -> None:
    events = [Emission(0.0, EventType.ORCHESTRATOR_RESET, {}), Emission(300.0, EventType.JOB_PROCESSED, {})]
    done = flushes(PARTITION, events, FlushPolicy(60, 100), 400)

    assert [flush.flushed_at for flush in done] == [60.0, 360.0]
