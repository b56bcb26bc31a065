"""The bridge against the real broker and a real S3 endpoint: nothing lost, nothing marked twice."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.service import BridgeOptions, open_bridge, run_bridge
from openpool.settings import Settings
from tests.bridge.conftest import FAST_RETRIES, Buckets
from tests.bridge.emitter_files import T0, EmitterFile, emitter_file, transcode_job
from tests.bridge.flaky_s3 import FlakyS3
from tests.bridge.topics_snapshot import TopicsSnapshot, snapshot

pytestmark = pytest.mark.integration

SettingsFactory = Callable[..., Settings]


async def publish_once(settings: Settings, options: BridgeOptions = FAST_RETRIES) -> int:
    return await run_bridge(settings, options, once=True, stop=asyncio.Event())


def assert_each_event_published(state: TopicsSnapshot, files: list[EmitterFile]) -> None:
    ids = state.event_ids
    missing = [event_id for file in files for event_id in file.event_ids if ids[event_id] == 0]
    assert missing == []


def assert_marked_once(state: TopicsSnapshot, versions: dict[str, str]) -> None:
    """Every file's latest progress is the expected version, and each version was marked exactly once."""
    assert {key: value["version"] for key, value in state.latest_progress.items()} == versions
    assert all(count == 1 for count in state.marks.values()), state.marks


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_a_late_file_that_sorts_before_published_ones_is_still_published(
    buckets: Buckets, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    on_time = [emitter_file("us-central", "transcode", T0 + timedelta(minutes=m), 3) for m in (60, 61, 62)]
    late = emitter_file("us-central", "transcode", T0 + timedelta(minutes=30), 3)
    very_late = emitter_file("us-central", "transcode", T0 + timedelta(minutes=1), 3)
    versions = {f.key: await buckets.put(f.key, f.body) for f in on_time}
    clock = Clock()
    stop = asyncio.Event()
    async with open_bridge(settings, FAST_RETRIES, clock=clock) as bridge:
        first = await bridge.poll(stop)
        assert (first.listing, first.published) == ("sweep", 3)

        versions[late.key] = await buckets.put(late.key, late.body)
        versions[very_late.key] = await buckets.put(very_late.key, very_late.body)
        clock.now += timedelta(minutes=5)
        window = await bridge.poll(stop)
        # Within the lookback window: found by the normal poll, which lists only the window.
        assert (window.listing, window.published, window.listed) == ("window", 1, 4)

        clock.now += timedelta(hours=1)
        sweep = await bridge.poll(stop)
        # Older than the lookback: found by the next full sweep.
        assert (sweep.listing, sweep.published) == ("sweep", 1)

    state = await snapshot(settings)
    assert_each_event_published(state, [*on_time, late, very_late])
    assert_marked_once(state, versions)


async def test_a_file_uploaded_again_with_identical_content_is_not_published_twice(
    buckets: Buckets, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    file = emitter_file("us-central", "ai", T0, 5)
    version = await buckets.put(file.key, file.body)
    assert await publish_once(settings) == 0
    assert await buckets.put(file.key, file.body) == version
    assert await publish_once(settings) == 0

    state = await snapshot(settings)
    assert sorted(state.event_ids.values()) == [1] * 5
    assert_marked_once(state, {file.key: version})


async def test_a_changed_file_publishes_only_new_events_and_reports_retracted_ones(
    buckets: Buckets, make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(S3_ARCHIVE_BUCKET=buckets.archive)
    old = emitter_file("us-central", "transcode", T0, 4)
    old_version = await buckets.put(old.key, old.body)
    assert await publish_once(settings) == 0
    assert (await buckets.keys(buckets.archive))[f"archive/{old.key}"] == old_version

    added = emitter_file("us-central", "transcode", T0, 2)
    new = EmitterFile(old.key, [old.envelopes[0], old.envelopes[1], *added.envelopes])
    new_version = await buckets.put(new.key, new.body)
    with caplog.at_level(logging.WARNING, logger="bridge.service"):
        assert await publish_once(settings) == 0

    state = await snapshot(settings)
    assert all(count == 1 for count in state.event_ids.values())
    assert_each_event_published(state, [old, new])
    assert state.marks == {(old.key, old_version): 1, (new.key, new_version): 1}
    latest = state.latest_progress[new.key]
    assert (latest["version"], latest["archived"], latest["skipped_events"], latest["events"]) == (
        new_version,
        True,
        2,
        2,
    )
    [retraction] = [d for d in state.dead_letters if d["reason"] == "retracted_events"]
    assert json.loads(retraction["raw"])["event_ids"] == sorted(old.event_ids[2:])
    assert retraction["source_version"] == new_version
    changed = [r for r in caplog.records if r.getMessage().startswith("file changed under the same key")]
    assert [(r.levelno, getattr(r, "skipped_events", None)) for r in changed] == [(logging.WARNING, 2)]


async def test_a_changed_file_without_an_archive_is_published_again_whole(
    buckets: Buckets, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    old = emitter_file("eu-central", "transcode", T0, 2)
    await buckets.put(old.key, old.body)
    assert await publish_once(settings) == 0
    new = EmitterFile(old.key, [*old.envelopes, transcode_job("eu-central", T0)])
    new_version = await buckets.put(new.key, new.body)
    assert await publish_once(settings) == 0

    state = await snapshot(settings)
    assert_each_event_published(state, [new])
    assert state.latest_progress[new.key]["version"] == new_version
    assert sorted(state.marks.values()) == [1, 1]


async def test_unreadable_null_and_partly_bad_files_are_marked_and_every_refusal_has_a_reason(
    buckets: Buckets, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    unreadable_key = emitter_file("oceania", "transcode", T0, 1).key
    unreadable_body = b'[\n  {\n    "DT": "2025-11-05T15:00:00Z",\n    "EventType": "job-pro'
    null_key = emitter_file("oceania", "transcode", T0 + timedelta(minutes=1), 1).key
    good = emitter_file("oceania", "transcode", T0 + timedelta(minutes=2), 3)
    no_fees = transcode_job("oceania", T0)
    del no_fees["Payload"]["fees"]
    mixed = EmitterFile(good.key, [good.envelopes[0], no_fees, good.envelopes[1], 42, good.envelopes[2]])
    stray_key = "oceania/transcode/notes.txt"
    versions = {
        unreadable_key: await buckets.put(unreadable_key, unreadable_body),
        null_key: await buckets.put(null_key, b"null"),
        mixed.key: await buckets.put(mixed.key, mixed.body),
        stray_key: await buckets.put(stray_key, b"hello"),
    }
    assert await publish_once(settings) == 0
    assert await publish_once(settings) == 0  # a second run finds nothing more to do

    state = await snapshot(settings)
    assert_each_event_published(state, [good])
    assert len(state.events) == 3
    assert_marked_once(state, versions)
    assert sorted(state.reasons()) == sorted(
        [
            (unreadable_key, "invalid_json", None),
            (mixed.key, "missing_field:fees", 1),
            (mixed.key, "not_an_object", 3),
            (stray_key, "unrecognised_key", None),
        ]
    )
    [invalid] = [d for d in state.dead_letters if d["reason"] == "invalid_json"]
    assert invalid["raw"] == unreadable_body.decode()
    assert (state.latest_progress[null_key]["events"], state.latest_progress[null_key]["dead_letters"]) == (0, 0)
    record = next(r for r in state.events if json.loads(r.value)["ID"] == good.event_ids[1])
    assert record.key == b"oceania|transcode"
    assert dict(record.headers)["position"] == b"2"


async def test_s3_errors_mid_batch_leave_files_unpublished_until_s3_answers_again(
    buckets: Buckets, make_settings: SettingsFactory, s3_endpoint: str
) -> None:
    proxy = FlakyS3(s3_endpoint)
    files = [emitter_file("us-west", "transcode", T0 + timedelta(hours=h), 4) for h in range(6)]
    versions = {f.key: await buckets.put(f.key, f.body) for f in files}
    recovers, stuck = files[3], [files[1], files[2]]
    async with proxy.serving() as endpoint:
        settings = make_settings(S3_ENDPOINT=endpoint)
        proxy.fail_gets(recovers.key, 2)  # within the retries of one poll
        for file in stuck:
            proxy.fail_gets(file.key, 1000)
        assert await publish_once(settings) == 1  # --once says files were left

        state = await snapshot(settings)
        assert set(state.latest_progress) == set(versions) - {f.key for f in stuck}
        assert not any(state.event_ids[event_id] for f in stuck for event_id in f.event_ids)
        assert proxy.failed[recovers.key] == 2

        async with open_bridge(settings, FAST_RETRIES) as bridge:
            still_failing = await bridge.poll(asyncio.Event())
            assert (still_failing.published, still_failing.failed, still_failing.waiting) == (0, 2, 2)
            proxy.failures.clear()
            recovered = await bridge.poll(asyncio.Event())
            # A window listing (it starts 1 h before the newest file, 5 h after the stuck ones) still
            # covers the files known to be waiting.
            assert (recovered.listing, recovered.published, recovered.waiting) == ("window", 2, 0)

    state = await snapshot(settings)
    assert_each_event_published(state, files)
    assert_marked_once(state, versions)


def bridge_environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "KAFKA_", "OPENPOOL_", "AWS_"))}
    return env | {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "S3_ENDPOINT": settings.s3_endpoint,
        "S3_BUCKET": settings.s3_bucket,
        "OPENPOOL_APP_ID": settings.app_id,
        "OPENPOOL_EVENTS_PARTITIONS": str(settings.events_partitions),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "S3_SENSOR_INTERVAL_SECONDS": "0.5",
    }


async def start_bridge(settings: Settings, cwd: Path, *args: str) -> asyncio.subprocess.Process:
    openpool = str(Path(sys.executable).with_name("openpool"))
    return await asyncio.create_subprocess_exec(
        openpool,
        "bridge",
        "--metrics-port",
        "0",
        *args,
        env=bridge_environment(settings),
        cwd=cwd,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_for_published_files(bridge: asyncio.subprocess.Process, count: int, lines: list[str]) -> None:
    assert bridge.stderr is not None
    seen = 0
    while seen < count:
        line = (await asyncio.wait_for(bridge.stderr.readline(), timeout=60)).decode()
        assert line, "the bridge exited early:\n" + "".join(lines[-20:])
        lines.append(line)
        seen += '"file published"' in line


def many_files(count: int, events: int) -> list[EmitterFile]:
    cells = [
        ("us-central", "ai"),
        ("us-central", "transcode"),
        ("us-west", "transcode"),
        ("eu-central", "transcode"),
        ("oceania", "transcode"),
    ]
    return [emitter_file(*cells[i % len(cells)], T0 + timedelta(minutes=i // len(cells)), events) for i in range(count)]


async def test_killing_the_bridge_mid_batch_then_restarting_publishes_every_file_and_marks_each_once(
    buckets: Buckets, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = make_settings()
    files = many_files(40, 300)
    await buckets.put_many([(f.key, f.body) for f in files])
    versions = await buckets.keys(buckets.source)

    bridge = await start_bridge(settings, tmp_path)
    await wait_for_published_files(bridge, 5, [])
    bridge.send_signal(signal.SIGKILL)
    assert await bridge.wait() == -signal.SIGKILL
    interrupted = await snapshot(settings)
    assert 5 <= len(interrupted.marks) < len(files)

    restarted = await start_bridge(settings, tmp_path, "--once")
    assert await asyncio.wait_for(restarted.communicate(), timeout=60) and restarted.returncode == 0

    state = await snapshot(settings)
    assert_each_event_published(state, files)
    assert_marked_once(state, versions)


async def test_sigterm_finishes_the_current_file_flushes_and_exits_zero(
    buckets: Buckets, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = make_settings()
    files = many_files(40, 300)
    await buckets.put_many([(f.key, f.body) for f in files])

    bridge = await start_bridge(settings, tmp_path)
    lines: list[str] = []
    await wait_for_published_files(bridge, 3, lines)
    bridge.send_signal(signal.SIGTERM)
    _, rest = await asyncio.wait_for(bridge.communicate(), timeout=30)
    assert bridge.returncode == 0
    published = sum('"file published"' in line for line in [*lines, *rest.decode().splitlines()])

    state = await snapshot(settings)
    # Every file it started was finished and marked; the rest of the batch was left for the next run.
    assert len(state.marks) == published < len(files)
    ids = state.event_ids
    marked = [file for file in files if file.key in state.latest_progress]
    assert all(ids[event_id] == 1 for file in marked for event_id in file.event_ids)


async def test_published_files_are_archived_and_optionally_removed_from_the_source(
    buckets: Buckets, make_settings: SettingsFactory
) -> None:
    settings = make_settings(S3_ARCHIVE_BUCKET=buckets.archive, OPENPOOL_S3_DELETE_AFTER_ARCHIVE=True)
    files = [emitter_file("us-central", "ai", T0 + timedelta(minutes=m), 2) for m in range(3)]
    versions = {f.key: await buckets.put(f.key, f.body) for f in files}
    assert await publish_once(settings) == 0
    assert await publish_once(settings) == 0

    assert await buckets.keys(buckets.source) == {}
    assert await buckets.keys(buckets.archive) == {f"archive/{key}": version for key, version in versions.items()}
    state = await snapshot(settings)
    assert_marked_once(state, versions)
    assert all(value["archived"] for value in state.latest_progress.values())
    assert len(state.events) == 6
