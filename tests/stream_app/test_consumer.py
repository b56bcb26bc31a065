"""The consumer counts only processed records towards commits (stream_app/consumer.py)."""

from __future__ import annotations

from pathlib import Path

from faust.types import TP

from openpool.settings import load_settings
from stream_app.app import create_app
from stream_app.consumer import ProcessedOnlyConsumer


async def test_offsets_the_fetcher_skipped_are_not_counted_as_acked(tmp_path: Path) -> None:
    settings = load_settings().model_copy(update={"data_dir": tmp_path})
    consumer = create_app(settings).app.consumer
    assert isinstance(consumer, ProcessedOnlyConsumer)
    tp = TP("app.events", 0)
    consumer._committed_offset[tp] = 100
    consumer._acked[tp].extend([100, 101])
    consumer._acked_index[tp].update([100, 101])
    await consumer._add_gap(tp, 102, 140)
    consumer._acked[tp].append(141)
    consumer._acked_index[tp].add(141)

    assert consumer._new_offset(tp) == 102, "a commit must stop before the records the fetcher never delivered"
