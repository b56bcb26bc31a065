"""Inputs that once stopped the bridge: one such file crashed every `bridge --once` (or stalled it), so the
files queued behind it were never published. Each is now contained: the good file beside it is published
and the poison is kept with a reason."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from openpool.domain.event_files import SourceKey, parse_event_file
from tests.bridge.emitter_files import ADDRESS, T0, EmitterFile, emitter_file, emitter_key, worker_connected
from tests.pipeline_process import PipelineProcess


async def assert_poison_is_contained(pipeline: PipelineProcess, poison_key: str, poison: bytes) -> None:
    """The bridge finishes, the good file next to the poison is published, the poison is kept somewhere."""
    good = emitter_file("us-central", "transcode", T0 + timedelta(minutes=5), 3)
    await pipeline.upload({poison_key: poison, good.key: good.body})
    done = pipeline.openpool("bridge", "--once", timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    events = await pipeline.read(pipeline.settings.topics.events)
    published = {json.loads(record.value)["ID"] for record in events}
    assert set(good.event_ids) <= published
    kept = {letter["source_key"] for letter in await pipeline.dead_letters()}
    keys = {dict(record.headers)["source_key"].decode() for record in events}
    assert poison_key in kept | keys


@pytest.mark.integration
async def test_an_event_dated_hours_ahead_does_not_stop_the_bridge(pipeline: PipelineProcess) -> None:
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    file = EmitterFile(emitter_key("us-central", "transcode", T0), [worker_connected("us-central", "transcode", ahead)])
    await assert_poison_is_contained(pipeline, file.key, file.body)


@pytest.mark.integration
async def test_a_lone_surrogate_in_a_refused_event_type_does_not_stop_the_bridge(
    pipeline: PipelineProcess,
) -> None:
    key = emitter_key("us-central", "transcode", T0)
    body = json.dumps([worker_connected("us-central", "transcode", T0) | {"EventType": "job-\ud800"}]).encode()
    assert b"\\ud800" in body
    await assert_poison_is_contained(pipeline, key, body)


@pytest.mark.integration
async def test_an_accepted_event_larger_than_a_kafka_message_does_not_stop_the_bridge(
    pipeline: PipelineProcess,
) -> None:
    ticket = worker_connected("us-central", "transcode", T0) | {
        "EventType": "ticket-redeemed",
        "Payload": {
            "recipient": ADDRESS,
            "sender": ADDRESS,
            "faceValue": 1,
            "winProb": 1,
            "pricePerPixel": "1",
            "creationRound": 1,
            "txHash": "0x" + "ab" * 800_000,
        },
    }
    file = EmitterFile(emitter_key("us-central", "transcode", T0), [ticket])
    source = SourceKey.parse(file.key)
    assert source is not None
    assert [r.reason for r in parse_event_file(source, file.body).rejections] == ["out_of_range:txHash"]
    await assert_poison_is_contained(pipeline, file.key, file.body)


def test_reading_an_unterminated_string_of_escaped_quotes_takes_linear_time() -> None:
    source = SourceKey.parse(emitter_key("us-central", "transcode", T0))
    assert source is not None
    body = b'"' + b'\\"' * 12_000  # 24 KiB; a linear reader needs about a millisecond
    started = time.monotonic()
    parsed = parse_event_file(source, body)
    assert [r.reason for r in parsed.rejections] == ["invalid_json"]
    assert time.monotonic() - started < 0.5
