"""A running `openpool bridge` on its metrics port: alive from the start, ready once it has listed the bucket."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from tests.pipeline_process import PipelineProcess
from tests.stream_app.pipeline import free_port, pool_files

pytestmark = pytest.mark.integration


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object]]:
    try:
        async with http.get(url) as response:
            return response.status, await response.json()
    except aiohttp.ClientConnectionError:
        return 0, {}


async def _until(http: aiohttp.ClientSession, url: str, status: int, within: float) -> dict[str, object]:
    deadline = time.monotonic() + within
    while True:
        answer, body = await _get(http, url)
        if answer == status:
            return body
        assert time.monotonic() < deadline, f"{url} answered {answer} {body}, not {status}, for {within:.0f} s"
        await asyncio.sleep(0.2)


async def test_the_bridge_is_alive_at_once_and_ready_after_its_first_listing(
    pipeline: PipelineProcess, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The events bucket does not exist yet: every listing fails, so the bridge runs but is not ready.
    with pipeline.running("bridge", log=tmp_path / "bridge.log", env={"OPENPOOL_METRICS_PORT": str(port)}):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            health = await _until(http, f"{base}/healthz", 200, within=60)
            assert health["status"] == "ok"
            await _until_listing_failed(tmp_path / "bridge.log")
            assert await _get(http, f"{base}/readyz") == (
                503,
                {"ready": False, "conditions": {"kafka_connected": True, "bucket_listed": False}},
            )

            await pipeline.upload(pool_files(seed=5, minutes=1, transcode_jobs=3, ai_jobs=2))
            ready = await _until(http, f"{base}/readyz", 200, within=30)
            assert ready == {"ready": True, "conditions": {"kafka_connected": True, "bucket_listed": True}}
            assert (await _get(http, f"{base}/healthz"))[0] == 200
            async with http.get(f"{base}/metrics") as metrics:
                exposition = await metrics.text()
            assert 'openpool_bridge_polls_total{listing="' in exposition
            assert (await _get(http, f"{base}/nothing"))[0] == 404


async def _until_listing_failed(log: Path) -> None:
    deadline = time.monotonic() + 60
    while "listing the bucket failed" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        await asyncio.sleep(0.2)
