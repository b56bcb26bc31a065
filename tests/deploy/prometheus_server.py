"""A real Prometheus server (Debian's `prometheus`) on a free loopback port, scraping given targets every second."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.stream_app.pipeline import free_port


@dataclass(frozen=True)
class PrometheusServer:
    url: str
    log: Path

    async def query(self, http: aiohttp.ClientSession, expr: str) -> list[dict[str, Any]]:
        """The instant vector `expr` evaluates to now."""
        async with http.get(f"{self.url}/api/v1/query", params={"query": expr}) as response:
            answer = await response.json()
        assert answer["status"] == "success", f"{expr}: {answer}"
        return list(answer["data"]["result"])

    async def wait_ready(self, http: aiohttp.ClientSession, within: float) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                async with http.get(f"{self.url}/-/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            assert time.monotonic() < deadline, f"not ready in {within:.0f} s:\n{self.log.read_text()[-3000:]}"
            await asyncio.sleep(0.2)


@contextmanager
def prometheus_server(
    binary: str, folder: Path, targets: Mapping[str, str], rule_files: list[Path]
) -> Iterator[PrometheusServer]:
    """Scrape each `job -> host:port` target's /metrics every second and evaluate `rule_files` every second."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in targets.items()
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = folder / "prometheus.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield PrometheusServer(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
