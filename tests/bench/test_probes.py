from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openpool.bench.latency import LoadPlan, load_config
from openpool.bench.probes import Probe, probe_address, with_probes
from openpool.domain.event_files import SourceKey, parse_event_file
from openpool.domain.events import EventType
from openpool.generator import generate

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _probed() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]], list[Probe]]:
    dataset = generate(load_config(LoadPlan(200, 5, 5), START), seed=1)
    files, probes = with_probes(dataset.files, "t")
    return list(dataset.files), files, probes


def test_every_file_with_a_job_carries_one_probe_the_contract_accepts() -> None:
    original, probed, probes = _probed()
    by_key = {probe.key: probe for probe in probes}
    assert len(by_key) == len(probes) > len(original) / 2
    for (key, before), (same_key, after) in zip(original, probed, strict=True):
        assert key == same_key
        probe = by_key.get(key)
        if probe is None:
            assert after == before
            continue
        source = SourceKey.parse(key)
        assert source is not None
        parsed = parse_event_file(source, after)
        assert not parsed.rejections
        added = parsed.events[len(parse_event_file(source, before).events) :]
        processed = [item.event for item in added if item.event.event_type is EventType.JOB_PROCESSED]
        assert added[-1].event.id == probe.event_id
        assert len(processed) == 1
        paid = [item.event.worker_address for item in added if item.event.worker_address is not None]
        assert paid == [probe.address]
        assert len(added) == (2 if "/ai/" in key else 1)


def test_probe_addresses_are_distinct_and_stable() -> None:
    addresses = {probe_address("t", index) for index in range(100)}
    assert len(addresses) == 100
    assert probe_address("t", 3) == probe_address("t", 3) != probe_address("u", 3)


def test_a_file_without_a_job_is_left_as_it_was() -> None:
    body = b'[{"DT": "2026-11-25T12:00:00Z", "EventType": "orchestrator-reset", "Payload": {}}]'
    files, probes = with_probes([("us-central/ai/x.json", body), ("us-central/ai/y.json", b"null")], "t")
    assert files == [("us-central/ai/x.json", body), ("us-central/ai/y.json", b"null")]
    assert probes == []


def test_load_config_offers_about_the_planned_events_per_second() -> None:
    plan = LoadPlan(events_per_second=500, seconds=20, drain_seconds=5)
    dataset = generate(load_config(plan, START), seed=2)
    assert 0.85 * 500 < dataset.emitted_events / 20 < 1.15 * 500
    assert timedelta(seconds=20) == dataset.config.duration
