"""Measurements for the issue's closing note: publish rate, and listing cost with 10,000 published files.

Run with `pytest -m slow tests/bridge/test_bridge_measurements.py -s` to see the numbers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from bridge.service import open_bridge
from openpool.settings import Settings
from tests.bridge.conftest import FAST_RETRIES, Buckets
from tests.bridge.emitter_files import T0, emitter_file
from tests.bridge.topics_snapshot import snapshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CELLS = [
    ("us-central", "ai"),
    ("us-central", "transcode"),
    ("us-west", "transcode"),
    ("eu-central", "transcode"),
    ("oceania", "transcode"),
]


async def test_publish_rate_with_files_of_1000_events(buckets: Buckets, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    files = [emitter_file(*CELLS[i % 5], T0 + timedelta(minutes=i), 1000) for i in range(20)]
    await buckets.put_many([(f.key, f.body) for f in files])
    async with open_bridge(settings, FAST_RETRIES) as bridge:
        started = time.perf_counter()
        report = await bridge.poll(asyncio.Event())
        elapsed = time.perf_counter() - started
    assert (report.published, report.events) == (20, 20_000)
    print(f"\npublish rate: {report.events} events in {elapsed:.2f} s = {report.events / elapsed:,.0f} events/s")
    state = await snapshot(settings)
    assert len(state.event_ids) == 20_000


async def test_listing_cost_per_poll_with_10000_published_files(
    buckets: Buckets, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(MAX_FILES_PER_BATCH=10_000)
    per_cell = 2_000
    files = [
        emitter_file(region, node_type, T0 + timedelta(minutes=minute), 1)
        for region, node_type in CELLS
        for minute in range(per_cell)
    ]
    started = time.perf_counter()
    await buckets.put_many([(f.key, f.body) for f in files], concurrency=20)
    upload_seconds = time.perf_counter() - started
    async with open_bridge(settings, FAST_RETRIES) as bridge:
        started = time.perf_counter()
        sweep = await bridge.poll(asyncio.Event())
        publish_seconds = time.perf_counter() - started
        assert (sweep.listing, sweep.published, sweep.listed) == ("sweep", 10_000, 10_000)

        newest = emitter_file("us-central", "ai", T0 + timedelta(minutes=per_cell), 1)
        await buckets.put(newest.key, newest.body)
        started = time.perf_counter()
        window = await bridge.poll(asyncio.Event())
        window_seconds = time.perf_counter() - started
    print(
        f"\nuploaded 10,000 files in {upload_seconds:.1f} s; first poll (full sweep) published them in "
        f"{publish_seconds:.1f} s ({10_000 / publish_seconds:,.0f} files/s)"
        f"\nnext poll: listed {window.listed} objects (a sweep lists {sweep.listed}) in {window_seconds:.3f} s"
    )
    assert (window.listing, window.published) == ("window", 1)
    # 5 prefixes x (60 minutes of lookback + the newest published minute), plus the new file.
    assert window.listed == 5 * 61 + 1
