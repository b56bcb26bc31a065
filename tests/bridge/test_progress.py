from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bridge.progress import ProgressIndex, ProgressRecord
from tests.bridge.emitter_files import T0, emitter_key

AT = datetime(2026, 1, 1, tzinfo=UTC)


def record(key: str, version: str = "v1", archived: bool = False) -> ProgressRecord:
    return ProgressRecord(
        key=key,
        version=version,
        size=10,
        last_modified=AT,
        events=3,
        dead_letters=1,
        published_at=AT,
        archived=archived,
    )


def test_a_progress_record_round_trips_through_its_kafka_key_and_value() -> None:
    original = record(emitter_key("us-central", "ai", T0))
    value = json.loads(original.encode())
    assert set(value) >= {"version", "size", "last_modified", "events", "dead_letters", "published_at", "archived"}
    assert "key" not in value
    assert ProgressRecord.decode(original.key.encode(), original.encode()) == original


def test_the_index_keeps_the_latest_version_per_key_and_the_newest_start_per_prefix() -> None:
    index = ProgressIndex()
    early, late = emitter_key("us-central", "ai", T0), emitter_key("us-central", "ai", T0 + timedelta(hours=2))
    index.apply(record(late))
    index.apply(record(early))
    index.apply(record(early, version="v2"))
    assert index.version_of(early) == "v2"
    assert index.watermark("us-central/ai/") == T0 + timedelta(hours=2)
    assert index.watermark("eu-central/ai/") is None
    assert len(index) == 2


def test_keys_of_another_layout_are_remembered_but_move_no_watermark() -> None:
    index = ProgressIndex()
    index.apply(record("us-central/ai/readme.txt"))
    assert index.version_of("us-central/ai/readme.txt") == "v1"
    assert index.watermark("us-central/ai/") is None


def test_unarchived_lists_only_versions_whose_latest_record_is_not_archived() -> None:
    index = ProgressIndex()
    a, b = emitter_key("us-central", "ai", T0), emitter_key("us-central", "ai", T0 + timedelta(minutes=1))
    index.apply(record(a))
    index.apply(record(b))
    index.apply(record(a, archived=True))
    assert [r.key for r in index.unarchived()] == [b]
    index.apply(record(a, version="v2"))
    assert [r.key for r in index.unarchived()] == [b, a]
