"""`openpool run --until-idle` end to end: S3 files -> bridge -> stream app -> exports, checked to the wei
against the pure core applied directly to the same events."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from openpool.topics import ensure_topics, owned_topics
from tests.stream_app.pipeline import expected_earnings, pipeline_env, pool_files, settings_of, upload

pytestmark = pytest.mark.integration


async def test_run_until_idle_exports_earnings_equal_to_the_pure_core(
    kafka_bootstrap: str, s3_endpoint: str, name_prefix: str
) -> None:
    files = pool_files(seed=7)
    env = pipeline_env(name_prefix, kafka_bootstrap, s3_endpoint)
    await upload(env, files)
    settings = settings_of(env)
    await ensure_topics(settings, owned_topics(settings))
    await _produce(kafka_bootstrap, settings.topics.attributed_jobs, b"not a forwarded job")
    session = get_session()
    async with session.create_client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    ) as s3:
        log_path = Path(env["OPENPOOL_DATA_DIR"] + ".log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w") as log:
            done = subprocess.run(
                [sys.executable, "-m", "openpool.cli", "run", "--until-idle"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=240,
                check=False,
            )
        assert done.returncode == 0, log_path.read_text()[-3000:]

        expected = expected_earnings(files, Decimal("0.25"))
        exported: dict[tuple[str, str], int] = {}
        job_counts: dict[tuple[str, str], int] = defaultdict(int)
        for pk in {pk for _, pk in expected}:
            region, node_type = pk.split("|")
            summary = await _read_json(s3, env["S3_METRICS_BUCKET"], f"{region}/{node_type}/worker_summary.json")
            for address, worker in summary["data"]["workers"].items():
                exported[(address, pk)] = worker["worker_earnings"]
            performance = await _read_json(
                s3, env["S3_METRICS_BUCKET"], f"{region}/{node_type}/worker_performance.json"
            )
            for record in performance["transcode_performance"] + performance["ai_performance"]:
                job_counts[(record["worker_address"], pk)] += record["job_count"]
            if node_type == "ai":
                ranking = performance["ai_model_pipeline_rankings"]["m | llm"]
                assert [record["rank"] for record in ranking] == list(range(1, len(ranking) + 1))
    assert exported == {slot: entry.worker_earnings for slot, entry in expected.items()}
    failures = [
        (letter["stage"], letter["reason"])
        for letter in await _read_topic(kafka_bootstrap, settings.topics.dead_letters)
        if letter["reason"] == "processing_failed"
    ]
    assert failures == [("jobs", "processing_failed")]  # one stage-2 agent decodes each job once
    assert dict(job_counts) == {slot: entry.job_count for slot, entry in expected.items()}


async def _read_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(await (await s3.get_object(Bucket=bucket, Key=key))["Body"].read())


async def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=b"0xpoison")
    finally:
        await producer.stop()


async def _read_topic(bootstrap: str, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
        return [json.loads(record.value) for records in batches.values() for record in records]
    finally:
        await consumer.stop()
