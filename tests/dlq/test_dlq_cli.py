"""`openpool dlq` against the real broker: what the bridge refused is listed and counted; a redrive after a
fix re-publishes what now parses, in the bridge's format, once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from openpool.dead_letters import DeadLetter
from openpool.dlq.reader import topic_exists
from tests.bridge.emitter_files import T0, EmitterFile, emitter_file, transcode_job
from tests.dlq.letters import good_job, processing_failed, refused_element
from tests.pipeline_process import PipelineProcess
from tests.stream_app.pipeline import pipeline_env


@pytest.mark.integration
async def test_list_and_count_show_every_refusal_of_the_bridge_with_its_reason(pipeline: PipelineProcess) -> None:
    good = emitter_file("us-central", "transcode", T0, 3)
    no_fees = transcode_job("us-central", T0)
    del no_fees["Payload"]["fees"]
    file = EmitterFile(good.key, [good.envelopes[0], no_fees, 42, good.envelopes[1], "x", good.envelopes[2]])
    broken = emitter_file("eu-central", "transcode", T0, 2)
    await pipeline.upload({file.key: file.body, broken.key: broken.body[:-5], "us-central/transcode/notes.json": b"[]"})
    assert pipeline.openpool("bridge", "--once").returncode == 0

    by_reason = pipeline.openpool_json("dlq", "count", "--json")
    assert by_reason == {
        "by": "reason",
        "counts": {"not_an_object": 2, "missing_field:fees": 1, "invalid_json": 1, "unrecognised_key": 1},
        "total": 5,
        "redriven": 0,
    }
    assert pipeline.openpool_json("dlq", "count", "--by", "source", "--json")["counts"] == {
        file.key: 3,
        broken.key: 1,
        "us-central/transcode/notes.json": 1,
    }
    listed = pipeline.openpool("dlq", "list", "--reason", "not_an_object", "--json")
    letters = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(d["source_key"], d["position"], d["raw"], d["redriven"]) for d in letters] == [
        (file.key, 2, "42", False),
        (file.key, 4, '"x"', False),
    ]
    everything = pipeline.openpool("dlq", "list", "--json").stdout.splitlines()
    assert pipeline.openpool("dlq", "list", "--limit", "2", "--json").stdout.splitlines() == everything[:2]
    text = pipeline.openpool("dlq", "list", "--source-key", "eu-central/").stdout
    assert "invalid_json" in text and broken.key in text and file.key not in text


@pytest.mark.integration
async def test_a_redrive_publishes_what_now_parses_once_and_a_second_redrive_sends_nothing(
    pipeline: PipelineProcess,
) -> None:
    # Letters as an older, stricter contract wrote them: the first two parse today, the third never will.
    accepted = [good_job(), good_job()]
    refused: list[DeadLetter] = [
        refused_element(accepted[0], position=1),
        refused_element(accepted[1], position=4),
        refused_element(good_job(EventType="job-failed"), position=6),
        refused_element(good_job(), "invalid_address", position=7),
    ]
    await pipeline.write_dead_letters(refused)
    topics = pipeline.settings.topics

    dry = pipeline.openpool_json("dlq", "redrive", "--reason", "wrong_type:fees", "--dry-run", "--json")
    assert (len(dry["republished"]), len(dry["still_failing"]), dry["dry_run"]) == (2, 1, True)
    assert await pipeline.read(topics.events) == []

    first = pipeline.openpool_json("dlq", "redrive", "--reason", "wrong_type:fees", "--json")
    assert [(item["dead_letter"], item["records"]) for item in first["republished"]] == [("0:0", 1), ("0:1", 1)]
    assert [(item["dead_letter"], item["now"]) for item in first["still_failing"]] == [("0:2", "unknown_event_type")]
    events = await pipeline.read(topics.events)
    assert [json.loads(r.value)["ID"] for r in events] == [e["ID"] for e in accepted]
    assert [(r.key, dict(r.headers)["position"], dict(r.headers)["source_version"]) for r in events] == [
        (b"us-central|transcode", b"1", b"etag-1"),
        (b"us-central|transcode", b"4", b"etag-1"),
    ]

    second = pipeline.openpool_json("dlq", "redrive", "--reason", "wrong_type:fees", "--json")
    assert (len(second["republished"]), len(second["already_redriven"]), len(second["still_failing"])) == (0, 2, 1)
    assert len(await pipeline.read(topics.events)) == 2

    counted = pipeline.openpool_json("dlq", "count", "--json")
    assert counted["counts"] == {"wrong_type:fees": 3, "invalid_address": 1}
    assert counted["redriven"] == 2
    markers = [d for d in await pipeline.dead_letters() if d["reason"] == "redriven"]
    assert Counter(json.loads(m["raw"])["dead_letter"]["offset"] for m in markers) == Counter({0: 1, 1: 1})
    assert "[redriven]" in pipeline.openpool("dlq", "list", "--reason", "wrong_type:fees").stdout


@pytest.mark.integration
async def test_a_record_an_agent_failed_on_goes_back_as_it_was_to_its_topic_and_partition(
    pipeline: PipelineProcess,
) -> None:
    topic = pipeline.settings.topics.attributed_jobs
    raw = b'{"origin":[12,0],"not":"a job the old code could read"}'
    await pipeline.write_dead_letters([processing_failed(raw, f"{topic}/3", 12)])

    done = pipeline.openpool("dlq", "redrive", "--reason", "processing_failed")
    assert done.returncode == 0, done.stderr
    assert "1 redriven (1 record(s))" in done.stdout
    back = await pipeline.read(topic)
    assert [(r.partition, r.value) for r in back] == [(3, raw)]


@pytest.mark.integration
async def test_an_app_without_dead_letters_counts_none_and_no_topic_is_created_by_asking(
    pipeline: PipelineProcess,
) -> None:
    assert pipeline.openpool_json("dlq", "count", "--json")["total"] == 0
    assert "0 would redrive" in pipeline.openpool("dlq", "redrive", "--reason", "x", "--dry-run").stdout
    await asyncio.sleep(1)  # a broker creates an asked-for topic in the background
    assert not await topic_exists(pipeline.env["KAFKA_BOOTSTRAP_SERVERS"], pipeline.settings.topics.dead_letters)


def test_an_unreachable_broker_is_one_line_and_exit_status_4(tmp_path: Path) -> None:
    pipeline = PipelineProcess(pipeline_env("t-unreachable", "127.0.0.1:9", "http://127.0.0.1:9"), tmp_path)
    done = pipeline.openpool("dlq", "list", timeout=60)
    assert done.returncode == 4
    assert "openpool dlq: Kafka unusable: KafkaConnectionError" in done.stderr
    assert "Traceback" not in done.stderr
