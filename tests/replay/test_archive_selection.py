"""Which archived files a replay sends, and how, from the key's time stamps and the target's bridge progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.listing import ListedObject
from bridge.progress import ProgressIndex, ProgressRecord
from openpool.replay.archive_selection import Action, ArchiveFilter, HoldReason, original_key, replay_plan

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PREFIX = "archive/"


def key(region: str, node_type: str, minute: int) -> str:
    start = T0 + timedelta(minutes=minute)
    end = start + timedelta(seconds=59)
    stamp = "%Y%m%dT%H%M%SZ"
    return f"{region}/{node_type}/{region}-{node_type}-{start.strftime(stamp)}_{end.strftime(stamp)}.json"


def archived(original: str, version: str = "etag-1") -> ListedObject:
    return ListedObject(PREFIX + original, version, 100, T0)


def progress(*records: ProgressRecord) -> ProgressIndex:
    index = ProgressIndex()
    for record in records:
        index.apply(record)
    return index


def published(original: str, version: str = "etag-1", skipped: int = 0) -> ProgressRecord:
    return ProgressRecord(
        key=original,
        version=version,
        size=100,
        last_modified=T0,
        events=5,
        dead_letters=0,
        published_at=T0,
        archived=True,
        skipped_events=skipped,
        previous_version="etag-0" if skipped else None,
    )


def test_the_archive_prefix_is_stripped_to_give_the_key_the_bridge_published() -> None:
    assert original_key("archive/us-central/ai/f.json", "archive/") == "us-central/ai/f.json"
    assert original_key("us-central/ai/f.json", "archive/") is None
    assert original_key("us-central/ai/f.json", "") == "us-central/ai/f.json"


def test_without_a_filter_every_archived_file_is_chosen_oldest_flush_first() -> None:
    keys = [key("us-central", "ai", 2), key("eu-central", "transcode", 0), key("us-central", "transcode", 1)]
    plan = replay_plan([archived(k) for k in keys], PREFIX, ArchiveFilter(), progress())
    assert [d.source_key for d in plan] == [keys[1], keys[2], keys[0]]


def test_since_and_until_select_the_files_whose_flush_window_meets_the_interval() -> None:
    keys = [key("us-central", "ai", minute) for minute in range(5)]
    selection = ArchiveFilter(since=T0 + timedelta(minutes=1, seconds=30), until=T0 + timedelta(minutes=3))
    plan = replay_plan([archived(k) for k in keys], PREFIX, selection, progress())
    # minute 1 (12:01:00-12:01:59) still ends after 12:01:30; minute 3 starts at the exclusive upper bound.
    assert [d.source_key for d in plan] == keys[1:3]


def test_region_and_node_type_filters_select_their_partitions_only() -> None:
    keys = [key("us-central", "ai", 0), key("us-central", "transcode", 0), key("eu-central", "transcode", 0)]
    listed = [archived(k) for k in keys]
    by_region = replay_plan(listed, PREFIX, ArchiveFilter(regions=frozenset({"us-central"})), progress())
    by_type = replay_plan(listed, PREFIX, ArchiveFilter(node_types=frozenset({"transcode"})), progress())
    assert [d.source_key for d in by_region] == keys[:2]
    assert [d.source_key for d in by_type] == sorted(keys[1:])


def test_a_file_the_target_never_published_gets_the_whole_publication() -> None:
    (decision,) = replay_plan([archived(key("us-central", "ai", 0))], PREFIX, ArchiveFilter(), progress())
    assert decision.action is Action.PUBLISH


def test_the_version_the_target_published_is_republished_for_its_file_ledger_to_recognise() -> None:
    k = key("us-central", "ai", 0)
    (decision,) = replay_plan([archived(k)], PREFIX, ArchiveFilter(), progress(published(k)))
    assert decision.action is Action.REPUBLISH


def test_a_changed_file_whose_shared_events_came_with_an_earlier_version_is_held() -> None:
    k = key("us-central", "ai", 0)
    (decision,) = replay_plan([archived(k)], PREFIX, ArchiveFilter(), progress(published(k, skipped=3)))
    assert (decision.action, decision.reason) == (Action.HOLD, HoldReason.CHANGED_FILE)
    assert "3 of its events" in decision.detail


def test_an_archive_behind_the_targets_latest_version_is_held() -> None:
    k = key("us-central", "ai", 0)
    (decision,) = replay_plan([archived(k, "etag-1")], PREFIX, ArchiveFilter(), progress(published(k, "etag-2")))
    assert (decision.action, decision.reason) == (Action.HOLD, HoldReason.OTHER_VERSION)


def test_keys_of_another_layout_are_mentioned_only_when_the_whole_archive_is_replayed() -> None:
    listed = [archived("us-central/ai/notes.txt"), archived(key("us-central", "ai", 0))]
    whole = replay_plan(listed, PREFIX, ArchiveFilter(), progress())
    filtered = replay_plan(listed, PREFIX, ArchiveFilter(regions=frozenset({"us-central"})), progress())
    assert [(d.source_key, d.reason) for d in whole if d.action is Action.HOLD] == [
        ("us-central/ai/notes.txt", HoldReason.NOT_AN_EVENT_FILE)
    ]
    assert [d.action for d in filtered] == [Action.PUBLISH]
