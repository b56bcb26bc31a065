"""Two stream workers share the work; one is SIGKILLed mid-stream and restarted; later every data dir is
wiped and the state comes back from the changelogs. Earnings must equal the pure core's, to the wei."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from openpool.topics import partitions_of
from stream_app.read_models import ReadModel
from tests.stream_app.pipeline import (
    expected_earnings,
    free_port,
    pipeline_env,
    pool_files,
    settings_of,
    upload,
    wait_ready,
)
from tests.stream_app.table_databases import prefix_mismatches

# A fault-injection test of 1-4 minutes: `make test-all`. Under CPU stress it has shown a worker's earnings
# short by a few jobs after the SIGKILL (see the closing note of the first session: a suspected Faust commit
# past a record dropped by a recovery race, faust-streaming/faust#596 with #606).
pytestmark = pytest.mark.integration


def _publish(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "openpool.cli", "bridge", "--once"], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]


@contextmanager
def _worker(env: dict[str, str], name: str, web_port: int | None = None) -> Iterator[subprocess.Popen[bytes]]:
    data_dir = f"{env['OPENPOOL_DATA_DIR']}/{name}"
    log = Path(f"{env['OPENPOOL_DATA_DIR']}-{name}.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    worker_env = {**env, "OPENPOOL_DATA_DIR": data_dir, "OPENPOOL_WEB_PORT": str(web_port or free_port())}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "openpool.cli", "worker"], env=worker_env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _committed_fraction(env: dict[str, str]) -> float:
    topics = [f"{env['OPENPOOL_APP_ID']}.events", f"{env['OPENPOOL_APP_ID']}.attributed-jobs"]
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    partitions = await partitions_of(bootstrap, topics)
    tps = [TopicPartition(topic, p) for topic in topics for p in partitions.get(topic, [])]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        try:
            committed = await admin.list_consumer_group_offsets(env["OPENPOOL_APP_ID"])
        except GroupCoordinatorNotAvailableError:
            return 0.0
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
        await admin.close()
    total = sum(ends.values())
    done = sum(min(committed[tp].offset, end) if tp in committed else 0 for tp, end in ends.items())
    return done / total if total else 1.0


async def _wait_for_fraction(env: dict[str, str], at_least: float, within: float) -> None:
    deadline = time.monotonic() + within
    while (fraction := await _committed_fraction(env)) < at_least:
        assert time.monotonic() < deadline, f"only {fraction:.0%} committed"
        await asyncio.sleep(0.5)


async def _earnings(env: dict[str, str]) -> dict[tuple[str, str], int]:
    model = ReadModel(env["KAFKA_BOOTSTRAP_SERVERS"], f"{env['OPENPOOL_APP_ID']}.earnings")
    await model.start()
    try:
        await model.caught_up()
        return {
            (address, pk): int(entry["worker_earnings"])
            for address, value in model.values.items()
            for pk, entry in value["partitions"].items()
        }
    finally:
        await model.stop()


async def _wait_for_earnings(env: dict[str, str], expected: dict[tuple[str, str], int], within: float) -> None:
    """Earnings converge to the core's answer. Committed offsets are not the criterion: after a recovery,
    Faust's commit bookkeeping can lag behind what was processed (faust-streaming/faust#596)."""
    deadline = time.monotonic() + within
    while (earnings := await _earnings(env)) != expected:
        differences = {
            slot: earnings.get(slot, 0) - wei for slot, wei in expected.items() if earnings.get(slot, 0) != wei
        }
        assert time.monotonic() < deadline, f"earnings did not converge; got minus expected, in wei: {differences}"
        await asyncio.sleep(1)


@pytest.mark.slow
async def test_a_killed_worker_and_wiped_state_still_give_the_pure_cores_earnings(
    kafka_bootstrap: str, s3_endpoint: str, name_prefix: str
) -> None:
    files = pool_files(seed=11, minutes=8, transcode_jobs=150, ai_jobs=60)
    first, late = dict(list(files.items())[:-3]), dict(list(files.items())[-3:])
    env = pipeline_env(name_prefix, kafka_bootstrap, s3_endpoint)
    await upload(env, first)
    _publish(env)

    with _worker(env, "a") as a, _worker(env, "b"):
        await _wait_for_fraction(env, 0.2, within=90)
        a.send_signal(signal.SIGKILL)
        a.wait()
        with _worker(env, "a"):
            expected = {slot: e.worker_earnings for slot, e in expected_earnings(first, Decimal("0.25")).items()}
            await _wait_for_earnings(env, expected, within=180)

    shutil.rmtree(env["OPENPOOL_DATA_DIR"])
    await upload(env, late)
    _publish(env)
    port, metrics_port = free_port(), free_port()
    with _worker({**env, "OPENPOOL_METRICS_PORT": str(metrics_port)}, "fresh", web_port=port):
        expected = {slot: e.worker_earnings for slot, e in expected_earnings(files, Decimal("0.25")).items()}
        await _wait_for_earnings(env, expected, within=180)
        api = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{api}/readyz") as ready:
                assert ready.status == 200, await ready.text()
            async with http.get(f"{api}/pool") as pool:
                assert (await pool.json())["worker_earnings"] == sum(expected.values())
            await asyncio.sleep(6)  # the lag gauges are refreshed every 5 s
            async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as metrics:
                exposition = await metrics.text()
    assert f'openpool_consumer_lag_records{{consumer_group="{env["OPENPOOL_APP_ID"]}"' in exposition
    assert "openpool_stream_events_total" in exposition


def _expected(files: dict[str, bytes]) -> dict[tuple[str, str], int]:
    return {slot: e.worker_earnings for slot, e in expected_earnings(files, Decimal("0.25")).items()}


@pytest.mark.slow
async def test_a_worker_that_rejoins_with_kept_tables_and_takes_over_keeps_every_value(
    kafka_bootstrap: str, s3_endpoint: str, name_prefix: str
) -> None:
    """The shape of the fault loop's loss at trial 71 of seed 1186970128: worker b stops cleanly (keeping its
    tables), a goes on writing, b rejoins while a is still writing, and a then stops, so b owns every table
    partition and writes the same keys again. b must first hold every value a wrote; a value it lacks is
    dropped from the entry b writes next, and the earnings fall short of the pure core's. At the end every
    table database of both workers must be a prefix of its changelog with the matching offset."""
    files = list(pool_files(seed=13, minutes=8, transcode_jobs=60, ai_jobs=30).items())
    quarter = len(files) // 4
    parts = [dict(files[: quarter * n]) for n in (1, 2, 3)] + [dict(files)]
    env = pipeline_env(name_prefix, kafka_bootstrap, s3_endpoint)

    await upload(env, parts[0])
    _publish(env)
    with _worker(env, "a") as a:
        with _worker(env, "b"):
            await _wait_for_earnings(env, _expected(parts[0]), within=120)
        await upload(env, parts[1])
        _publish(env)
        await _wait_for_earnings(env, _expected(parts[1]), within=120)
        b_port = free_port()
        with _worker(env, "b", web_port=b_port):
            await wait_ready(b_port, within=120)
            await upload(env, parts[2])
            _publish(env)
            a.send_signal(signal.SIGTERM)
            a.wait(timeout=60)
            await _wait_for_earnings(env, _expected(parts[2]), within=120)
            await upload(env, parts[3])
            _publish(env)
            await _wait_for_earnings(env, _expected(parts[3]), within=120)
    for name in ("a", "b"):  # both stopped cleanly, their databases closed
        worker_settings = settings_of({**env, "OPENPOOL_DATA_DIR": f"{env['OPENPOOL_DATA_DIR']}/{name}"})
        assert await prefix_mismatches(worker_settings) == [], name
