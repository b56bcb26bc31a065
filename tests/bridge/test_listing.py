from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.listing import (
    ListedObject,
    oldest_age_seconds,
    oldest_first,
    start_after,
    sweep_due,
    unpublished,
    waiting_after_listing,
    window_start_key,
)
from tests.bridge.emitter_files import T0, emitter_key

PREFIX = "us-central/transcode/"
HOUR = timedelta(hours=1)
NOW = T0 + timedelta(days=30)


class Published:
    def __init__(self, versions: dict[str, str]) -> None:
        self.versions = versions

    def version_of(self, key: str) -> str | None:
        return self.versions.get(key)


def key_at(start: datetime, region: str = "us-central", node_type: str = "transcode") -> str:
    return emitter_key(region, node_type, start)


def listed(key: str, version: str = "v1", modified: datetime = NOW) -> ListedObject:
    return ListedObject(key=key, version=version, size=10, last_modified=modified)


def listing_from(keys: list[str], after: str | None) -> list[str]:
    """What S3 returns for StartAfter over sorted keys."""
    if after is None:
        return keys
    return keys[bisect.bisect_right(keys, after) :]


def test_window_key_sorts_between_flushes_before_and_from_its_start() -> None:
    bound = window_start_key(PREFIX, T0)
    assert key_at(T0 - timedelta(seconds=1)) < bound < key_at(T0) < key_at(T0 + timedelta(seconds=1))


def test_a_prefix_without_published_files_is_listed_whole() -> None:
    assert start_after(PREFIX, watermark=None, unpublished_keys=[], now=NOW, lookback=HOUR) is None


def test_a_normal_poll_lists_from_lookback_before_the_newest_published_file() -> None:
    watermark = T0 + timedelta(days=5)
    bound = start_after(PREFIX, watermark=watermark, unpublished_keys=[], now=NOW, lookback=HOUR)
    assert bound == window_start_key(PREFIX, watermark - HOUR)


def test_a_watermark_in_the_future_does_not_push_the_window_past_now() -> None:
    bound = start_after(PREFIX, watermark=NOW + timedelta(days=3), unpublished_keys=[], now=NOW, lookback=HOUR)
    assert bound == window_start_key(PREFIX, NOW - HOUR)


def test_a_known_unpublished_file_older_than_the_window_is_still_listed() -> None:
    stuck = key_at(T0)
    watermark = T0 + timedelta(days=5)
    bound = start_after(PREFIX, watermark=watermark, unpublished_keys=[stuck], now=NOW, lookback=HOUR)
    assert bound is not None and bound < stuck


def test_listing_cost_follows_the_lookback_window_not_the_published_history() -> None:
    # 10,000 files one minute apart, all published; one more file arrives.
    keys = [key_at(T0 + timedelta(minutes=i)) for i in range(10_000)]
    newest = T0 + timedelta(minutes=9_999)
    keys.append(key_at(newest + timedelta(minutes=1)))
    bound = start_after(PREFIX, watermark=newest, unpublished_keys=[], now=NOW, lookback=HOUR)
    assert len(listing_from(keys, bound)) == 62  # 61 minutes of window + the new file


@settings(max_examples=200)
@given(
    published_minutes=st.sets(st.integers(0, 5000), min_size=1, max_size=200),
    new_minutes=st.sets(st.integers(0, 5100), max_size=20),
    waiting_minutes=st.sets(st.integers(0, 5000), max_size=5),
    lookback_minutes=st.integers(0, 120),
)
def test_every_new_file_within_the_lookback_or_known_as_waiting_is_listed(
    published_minutes: set[int], new_minutes: set[int], waiting_minutes: set[int], lookback_minutes: int
) -> None:
    published = [key_at(T0 + timedelta(minutes=m)) for m in published_minutes]
    watermark = T0 + timedelta(minutes=max(published_minutes))
    lookback = timedelta(minutes=lookback_minutes)
    new = {key_at(T0 + timedelta(minutes=m)) for m in new_minutes - published_minutes}
    waiting = {key_at(T0 + timedelta(minutes=m)) for m in waiting_minutes - published_minutes}
    keys = sorted(set(published) | new | waiting)
    bound = start_after(PREFIX, watermark=watermark, unpublished_keys=waiting, now=NOW, lookback=lookback)
    returned = set(listing_from(keys, bound))
    assert waiting <= returned
    due = {k for k in new if k >= key_at(watermark - lookback)}
    assert due <= returned


def test_the_first_poll_and_then_every_interval_is_a_full_sweep() -> None:
    assert sweep_due(None, NOW, HOUR)
    assert not sweep_due(NOW - timedelta(minutes=59), NOW, HOUR)
    assert sweep_due(NOW - HOUR, NOW, HOUR)


def test_same_key_same_etag_is_not_a_candidate_but_new_content_is() -> None:
    same, changed, new = key_at(T0), key_at(T0 + HOUR), key_at(T0 + 2 * HOUR)
    progress = Published({same: "aaa", changed: "bbb"})
    candidates = unpublished([listed(same, "aaa"), listed(changed, "ccc"), listed(new, "ddd")], progress)
    assert [obj.key for obj in candidates] == [changed, new]


def test_the_batch_takes_the_oldest_flushes_first_across_prefixes() -> None:
    late = listed(key_at(T0, region="eu-central"))
    newer = listed(key_at(T0 + HOUR))
    odd = listed("us-central/transcode/notes.txt", modified=T0 + timedelta(minutes=30))
    newest = listed(key_at(T0 + 2 * HOUR, node_type="ai"))
    assert oldest_first([newest, newer, odd, late], 3) == [late, odd, newer]


def test_files_that_failed_before_go_after_the_others() -> None:
    stuck = listed(key_at(T0))
    fresh = listed(key_at(T0 + HOUR))
    assert oldest_first([stuck, fresh], 1, failed_before={stuck.key}) == [fresh]
    assert oldest_first([stuck, fresh], 2, failed_before={stuck.key}) == [fresh, stuck]


def test_a_listed_prefix_replaces_its_waiting_files_and_a_failed_listing_keeps_them() -> None:
    a_old, a_new = key_at(T0), key_at(T0 + HOUR)
    b_old = key_at(T0, region="eu-central")
    waiting = {a_old: listed(a_old), b_old: listed(b_old)}
    after = waiting_after_listing(waiting, ["us-central/transcode/"], [listed(a_new)])
    assert set(after) == {a_new, b_old}


def test_oldest_unpublished_age_is_zero_without_waiting_files() -> None:
    assert oldest_age_seconds([], NOW) == 0.0
    assert oldest_age_seconds([listed(key_at(T0), modified=NOW - HOUR), listed(key_at(T0), modified=NOW)], NOW) == 3600


def test_window_key_of_a_prefix_uses_its_region_and_node_type() -> None:
    assert window_start_key("eu-central/ai/", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)) == (
        "eu-central/ai/eu-central-ai-20250102T030405Z"
    )
