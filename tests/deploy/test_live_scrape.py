"""A real Prometheus scrapes a running stream worker, bridge and payer while a pool's files go through them.

The consumer lag gauges must be there with their labels and move; every metric the Grafana dashboard and the
alert rules read must be in the scrape of the process that exposes it (with samples, not only declared). The
bridge goes through an S3 proxy that fails one file's reads, and archives to a bucket that does not exist, so
that its failure counters have series too; an unrecognised key gives it a dead letter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp
import pytest

from openpool.stack.endpoints import StackEndpoints
from tests.bridge.flaky_s3 import FlakyS3
from tests.deploy.conftest import DeployTools
from tests.deploy.monitoring_files import BROKER_LAG_RULES, RULES, dashboard_names, recorded, rule_metric_names
from tests.deploy.prometheus_server import PrometheusServer, prometheus_server
from tests.pipeline_process import PipelineProcess
from tests.stream_app.pipeline import free_port, pipeline_env, pool_files, upload, wait_ready

pytestmark = pytest.mark.integration

JOBS = ("worker", "bridge", "payer")
LAG_METRICS = ("openpool_consumer_lag_records", "openpool_consumer_lag_seconds")
WITHIN_SECONDS = 90.0
# One S3 read of a file fails this many times in a row: every attempt of one fetch (bridge.backoff.Backoff).
FAILED_READS = 4


def _exposed_by(name: str) -> str:
    """The process whose series of `name` the dashboard or an alert reads: its scrape job."""
    if name.startswith("openpool_bridge_") or name == "openpool_dead_letters_total":
        return "bridge"  # the dead letter of this run is the bridge's unrecognised key
    if name.startswith(("openpool_payout", "openpool_payer_")):
        return "payer"
    return "worker"


async def test_prometheus_sees_lag_move_and_every_metric_the_dashboard_and_alerts_read(
    deploy_tools: DeployTools,
    kafka_bootstrap: str,
    s3_endpoint: str,
    stack_endpoints: StackEndpoints,
    name_prefix: str,
    tmp_path: Path,
) -> None:
    chain = {k: v for k, v in stack_endpoints.as_env().items() if k.startswith(("ETH_", "CHAIN_ID"))}
    env = {
        **pipeline_env(name_prefix, kafka_bootstrap, s3_endpoint, **chain),
        "S3_ARCHIVE_BUCKET": f"{name_prefix}-no-such-archive",
    }
    files = pool_files(seed=17, minutes=8, transcode_jobs=500, ai_jobs=250)  # 12,000 events
    failing = sorted(files)[3]
    await upload(env, {**files, "us-central/transcode/not-an-emitter-file.json": b"[]"})
    ports = {job: free_port() for job in JOBS}
    processes = PipelineProcess(env, tmp_path)
    proxy = FlakyS3(s3_endpoint)
    proxy.fail_gets(failing, FAILED_READS)

    with ExitStack() as running:
        prometheus = running.enter_context(
            prometheus_server(
                deploy_tools.prometheus,
                tmp_path / "prometheus",
                {job: f"127.0.0.1:{port}" for job, port in ports.items()},
                [RULES],
            )
        )
        running.enter_context(_process(processes, "payer", ports["payer"], tmp_path))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http, proxy.serving() as s3:
            await prometheus.wait_ready(http, within=30)
            # The whole backlog is in Kafka before the worker starts, so the worker lags behind it for a while
            # however fast it is, and its lag gauges must go from thousands of records to 0.
            running.enter_context(_process(processes, "bridge", ports["bridge"], tmp_path, S3_ENDPOINT=s3))
            await wait_ready(ports["bridge"], within=WITHIN_SECONDS)
            await _published(http, ports["bridge"], len(files) - 1, within=WITHIN_SECONDS)  # all but the failing one
            running.enter_context(_process(processes, "worker", ports["worker"], tmp_path))
            await wait_ready(ports["worker"], within=WITHIN_SECONDS)
            await wait_ready(int(env["OPENPOOL_WEB_PORT"]), within=10)  # the read API's, on Faust's web server
            await wait_ready(ports["payer"], within=WITHIN_SECONDS)
            missing = await _until_seen(http, prometheus)
            for job, port in ports.items():
                async with http.get(f"http://127.0.0.1:{port}/healthz") as health:
                    assert health.status == 200, f"{job}: {await health.text()}"
    assert not missing, "\n".join(missing)
    assert proxy.failed[failing] == FAILED_READS


@contextmanager
def _process(processes: PipelineProcess, job: str, port: int, folder: Path, **env: str) -> Iterator[None]:
    args = {"worker": ("worker",), "bridge": ("bridge",), "payer": ("payments", "run")}[job]
    with processes.running(*args, log=folder / f"{job}.log", env={"OPENPOOL_METRICS_PORT": str(port), **env}):
        yield


async def _published(http: aiohttp.ClientSession, port: int, files: int, within: float) -> None:
    """Wait until the bridge on `port` has published `files` files (its own counter)."""
    deadline = time.monotonic() + within
    published = 0.0
    while time.monotonic() < deadline:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            for line in (await response.text()).splitlines():
                if line.startswith("openpool_bridge_files_published_total "):
                    published = float(line.split()[1])
        if published >= files:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the bridge published {published:.0f} of {files} files within {within:.0f} s")


async def _until_seen(http: aiohttp.ClientSession, prometheus: PrometheusServer) -> list[str]:
    """What is still missing once everything was seen, or the deadline passed."""
    deadline = time.monotonic() + WITHIN_SECONDS
    while True:
        missing = await _missing(http, prometheus)
        if not missing or time.monotonic() > deadline:
            return missing
        await asyncio.sleep(1)


async def _missing(http: aiohttp.ClientSession, prometheus: PrometheusServer) -> list[str]:
    missing: list[str] = []
    for name in LAG_METRICS:
        series = await prometheus.query(http, f'{name}{{job="worker"}}')
        labels = [set(s["metric"]) - {"__name__", "job", "instance"} for s in series]
        if not series or any(found != {"consumer_group", "topic", "partition"} for found in labels):
            missing.append(f"{name}: no series with exactly consumer_group, topic, partition ({labels})")
        elif not await prometheus.query(http, f'changes({name}{{job="worker"}}[10m]) > 0'):
            missing.append(f"{name}: no partition's value has changed yet")
    from_exporters = recorded(BROKER_LAG_RULES)  # this test runs no broker-side exporter
    for name in sorted((dashboard_names() | rule_metric_names(RULES)) - from_exporters):
        if name in recorded(RULES):
            if not await prometheus.query(http, name):
                missing.append(f"{name}: not recorded by deploy/prometheus/rules.yml")
            continue
        jobs = {s["metric"]["job"] for s in await prometheus.query(http, f'count by (job) ({{__name__="{name}"}})')}
        if _exposed_by(name) not in jobs:
            missing.append(f"{name}: not in the scrape of the {_exposed_by(name)} (only in {sorted(jobs)})")
    for job in JOBS:
        if not await prometheus.query(http, f'openpool_build_info{{job="{job}"}} == 1'):
            missing.append(f"openpool_build_info: not in the scrape of the {job}")
    return missing
