"""The closing-note measurement: how fast an app id is rebuilt from a replay of the archive.

Run with `pytest -m slow tests/replay/test_rebuild_rate.py -s` to see the numbers. The archive is a generated
pool (openpool.generator), put straight under the archive prefix; `openpool replay archive` publishes it into
a fresh app id and `openpool run --until-idle` rebuilds that app's state until the group has no lag left.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from datetime import timedelta
from pathlib import Path

import pytest

from openpool.generator import GeneratorConfig, generate
from openpool.replay.app_snapshot import load_snapshot
from tests.pipeline_process import PipelineProcess
from tests.replay.processes import create_bucket, run_until_idle, s3_client
from tests.stream_app.pipeline import pipeline_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MINUTES = int(os.environ.get("OPENPOOL_REBUILD_MINUTES", "5"))


async def test_rebuild_rate_from_an_archive_replay(kafka_bootstrap: str, s3_endpoint: str, tmp_path: Path) -> None:
    dataset = generate(GeneratorConfig(duration=timedelta(minutes=MINUTES), workers=50, jobs_per_second=50), seed=3)
    archived = dict(dataset.files)  # the archive holds the last version of each key
    app_id = f"t-rebuild-rate-{secrets.token_hex(4)}"
    env = pipeline_env(app_id, kafka_bootstrap, s3_endpoint)
    env.pop("OPENPOOL_PAYOUTS_ENABLED", None)
    env.update(S3_BUCKET=f"{app_id}-empty", S3_ARCHIVE_BUCKET=f"{app_id}-archive", S3_ARCHIVE_PREFIX="archive/")
    for bucket in (env["S3_BUCKET"], env["S3_ARCHIVE_BUCKET"], env["S3_METRICS_BUCKET"]):
        await create_bucket(s3_endpoint, bucket)
    async with s3_client(s3_endpoint) as s3:
        for key, body in archived.items():
            await s3.put_object(Bucket=env["S3_ARCHIVE_BUCKET"], Key=f"archive/{key}", Body=body)

    app = PipelineProcess(env, tmp_path)
    started = time.perf_counter()
    replayed = app.openpool("replay", "archive", timeout=600)
    publish_seconds = time.perf_counter() - started
    assert replayed.returncode == 0, replayed.stderr[-3000:]
    sent = re.search(r"(\d+) events", replayed.stdout)
    assert sent is not None, replayed.stdout
    events = int(sent.group(1))

    started = time.perf_counter()
    run_until_idle(app, timeout=1800)
    rebuild_seconds = time.perf_counter() - started
    snapshot = await load_snapshot(kafka_bootstrap, app_id)
    assert snapshot.earnings and snapshot.connections

    rate = events / rebuild_seconds
    total_rate = events / (publish_seconds + rebuild_seconds)
    print(
        f"\n{len(archived)} archived files, {events} events: replay archive {publish_seconds:.1f} s "
        f"({events / publish_seconds:,.0f} events/s); run --until-idle {rebuild_seconds:.1f} s ({rate:,.0f} events/s,"
        f" start-up and idle checks included); 1M events: ~{1e6 / rate / 60:.0f} min rebuild, "
        f"~{1e6 / total_rate / 60:.0f} min with the replay"
    )
