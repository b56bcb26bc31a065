"""The consumer counts only processed records towards commits (stream_app/consumer.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from faust.types import TP
from faust.types.tuples import Message

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


def _consumer_acking(tmp_path: Path, committed: int, acked: list[int]) -> tuple[ProcessedOnlyConsumer, TP]:
    settings = load_settings().model_copy(update={"data_dir": tmp_path})
    consumer = create_app(settings).app.consumer
    assert isinstance(consumer, ProcessedOnlyConsumer)
    tp = TP("app.events", 0)
    consumer._committed_offset[tp] = committed
    consumer._acked[tp].extend(acked)
    consumer._acked_index[tp].update(acked)
    return consumer, tp


def test_a_commit_waits_for_the_record_at_the_committed_offset_even_if_only_it_is_missing(tmp_path: Path) -> None:
    # A broker restart left 12938 refused (its reader rewound) and 12939-13017 acked; Faust's own check lets a
    # one-record head gap through and committed 13018, losing 80 records.
    consumer, tp = _consumer_acking(tmp_path, 12938, list(range(12939, 13018)))

    assert consumer._new_offset(tp) is None

    consumer._acked[tp].insert(0, 12938)  # the missing record arrives again and is processed
    consumer._acked_index[tp].add(12938)
    assert consumer._new_offset(tp) == 13018


def test_a_commit_passes_a_head_range_dead_lettered_as_deleted_by_retention(tmp_path: Path) -> None:
    consumer, tp = _consumer_acking(tmp_path, 10, [50, 51])
    assert consumer._new_offset(tp) is None

    consumer._gap[tp].addi(10, 50)  # what pass_expired(tp, 10, 49) records
    assert consumer._new_offset(tp) == 52


def test_a_partly_passed_head_range_still_holds_the_commit(tmp_path: Path) -> None:
    consumer, tp = _consumer_acking(tmp_path, 10, [50, 51])
    consumer._gap[tp].addi(10, 40)
    assert consumer._new_offset(tp) is None


def test_pass_expired_lets_a_commit_pass_exactly_the_dead_lettered_range(tmp_path: Path) -> None:
    consumer, tp = _consumer_acking(tmp_path, 1, [3, 4])
    consumer.pass_expired(tp, 1, 2)  # records 1 and 2 were deleted before any reader got them
    assert consumer._new_offset(tp) == 5


async def test_a_refused_record_is_no_longer_in_flight_so_a_rebalance_does_not_wait_for_it(tmp_path: Path) -> None:
    # Agents take records without Faust's acks: a record skipped by the order check (or of an abandoned batch)
    # stayed in flight for ever, and a rebalance's wait_empty waited for it while the rewind that redelivers
    # it waited for the rebalance. A fault-injection run stalled 35 records short that way.
    consumer, tp = _consumer_acking(tmp_path, 10, [])
    skipped = Message(tp.topic, tp.partition, 12, 0.0, 0, [], None, b"{}", None, generation_id=1)
    skipped.tracked = True
    consumer.track_message(skipped)
    assert skipped in consumer._unacked_messages

    consumer.refuse_ack(skipped)

    assert skipped not in consumer._unacked_messages
    await asyncio.wait_for(consumer.wait_empty(), timeout=5)
    assert consumer.ack(skipped) is False and list(consumer._acked[tp]) == []
