"""No private key, keystore password or AWS secret in anything the pipeline produces; the read API only reads.

One paying pipeline runs with a fresh payer key (a keystore file plus its password in the environment, and
in later runs the raw key itself) and a fresh AWS secret: the bridge and a stream worker with their metrics
endpoints, the worker's payout rounds on anvil, the HTTP API, the payments commands, and commands that fail
on bad settings or a bad key. Then everything they left is searched: their output, the metrics text, the API
responses, every topic of the app (dead letters, WAL, read models, changelogs), the S3 exports and audits,
and the files under the processes' working directory.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiobotocore.session import get_session
from aiokafka.admin import AIOKafkaAdminClient

from tests.payments.anvil_control import AnvilControl
from tests.pipeline_process import PipelineProcess
from tests.reliability.secrets_scan import Evidence, PayerSecrets
from tests.stream_app.pipeline import ADDRESSES, free_port, pipeline_env, pool_files

pytestmark = pytest.mark.integration

ENDPOINTS = ("/workers", f"/workers/{ADDRESSES[0]}", "/pool", "/performance", "/healthz", "/readyz")
MUTATING = ("POST", "PUT", "DELETE", "PATCH")


@dataclass
class Scenario:
    secrets: PayerSecrets
    evidence: Evidence = field(default_factory=Evidence)
    refusals: dict[tuple[str, str], int] = field(default_factory=dict)
    """(method, path) -> status of each mutating request to the read API."""
    exit_codes: dict[str, int] = field(default_factory=dict)


async def _eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    try:
        async with session.get(url) as response:
            return response.status, await response.text()
    except aiohttp.ClientError:
        return 0, ""


@pytest.fixture(scope="module")
async def scenario(
    kafka_bootstrap: str, s3_endpoint: str, eth_rpc: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Scenario]:
    found = Scenario(PayerSecrets.fresh())
    secret = found.secrets
    cwd = tmp_path_factory.mktemp("secrets")
    keystore = secret.write_keystore(cwd / "payer-keystore.json")
    prefix = f"t-secrets-{secrets.token_hex(4)}"
    web_port, bridge_metrics, worker_metrics = free_port(), free_port(), free_port()
    env = pipeline_env(
        prefix,
        kafka_bootstrap,
        s3_endpoint,
        ETH_RPC_ENDPOINT=eth_rpc,
        CHAIN_ID="42161",
        ETH_PRIVATE_KEY=str(keystore),
        ETH_KEYSTORE_PASSWORD=secret.password,
        AWS_ACCESS_KEY_ID="openpool-test",
        AWS_SECRET_ACCESS_KEY=secret.aws_secret,
        OPENPOOL_PAYOUTS_ENABLED="true",
        PAYMENT_THRESHOLD_WEI="1",
        PAYMENT_SENSOR_INTERVAL_SECONDS="2",
        OPENPOOL_PAYOUT_POLL_INTERVAL_SECONDS="0.05",
        OPENPOOL_PAYOUT_AUDIT_PREFIX=f"{prefix}/audit/",
        OPENPOOL_EXPORT_INTERVAL_SECONDS="2",
        OPENPOOL_WEB_PORT=str(web_port),
    )
    pipeline = PipelineProcess(env, cwd)
    files = pool_files(seed=5, minutes=2, transcode_jobs=10, ai_jobs=6)
    bad_key = next(iter(files)).replace("T12", "T13")
    files[bad_key] = b'[{"ID": "not-a-uuid"}, 42, {"EventType": "job-failed"'
    await pipeline.upload(files)
    topics = pipeline.settings.topics
    logs = cwd / "logs"
    logs.mkdir()

    async with aiohttp.ClientSession() as http:
        await AnvilControl(eth_rpc, http).set_balance(secret.address, 10 * 10**18)

        with pipeline.running("bridge", log=logs / "bridge.log", env={"OPENPOOL_METRICS_PORT": str(bridge_metrics)}):

            async def published() -> bool:
                return bool(await pipeline.read(topics.events)) and bool(await pipeline.dead_letters())

            await _eventually(published, 60, "the bridge to publish")
            await asyncio.sleep(2)  # a further poll, so the metrics hold more than the start
            status, text = await _get(http, f"http://127.0.0.1:{bridge_metrics}/metrics")
            assert status == 200
            found.evidence.add("bridge /metrics", text)

        base = f"http://127.0.0.1:{web_port}"
        with pipeline.running("worker", log=logs / "worker.log", env={"OPENPOOL_METRICS_PORT": str(worker_metrics)}):

            async def paid() -> bool:
                wal = await pipeline.read(topics.payout_wal)
                return any(b'"confirmed"' in (record.value or b"") for record in wal)

            await _eventually(paid, 180, "a confirmed payout in the WAL")
            await _eventually(lambda: _ok(http, f"{base}/readyz"), 60, "the worker to be ready")
            for path in ENDPOINTS:
                status, text = await _get(http, base + path)
                found.evidence.add(f"API GET {path} ({status})", text)
                for method in MUTATING:
                    async with http.request(method, base + path, json={"worker_earnings": 1}) as response:
                        found.refusals[(method, path)] = response.status
                        found.evidence.add(f"API {method} {path}", await response.text())
            status, text = await _get(http, f"http://127.0.0.1:{worker_metrics}/metrics")
            assert status == 200
            found.evidence.add("worker /metrics", text)

    raw_key = secret.private_key
    runs = {
        "payments plan": (("payments", "plan"), {"ETH_PRIVATE_KEY": raw_key}),
        "payments status": (("payments", "status", "--json"), {"ETH_PRIVATE_KEY": raw_key}),
        "payments run --once": (("payments", "run", "--once"), {"ETH_PRIVATE_KEY": raw_key}),
        "payments run --once (key without 0x, upper case)": (
            ("payments", "run", "--once"),
            {"ETH_PRIVATE_KEY": raw_key[2:].upper()},
        ),
        "payments reconcile": (("payments", "reconcile"), {}),
        "payments run --once (wrong password)": (
            ("payments", "run", "--once"),
            {"ETH_KEYSTORE_PASSWORD": secret.password[::-1]},
        ),
        "payments run --once (key two digits short)": (
            ("payments", "run", "--once"),
            {"ETH_PRIVATE_KEY": raw_key[:-2]},
        ),
        "bridge --once (bad threshold next to the secrets)": (
            ("bridge", "--once"),
            {"ETH_PRIVATE_KEY": raw_key, "PAYMENT_THRESHOLD_WEI": "ten"},
        ),
        "payments plan (bad chain id next to the secrets)": (
            ("payments", "plan"),
            {"ETH_PRIVATE_KEY": raw_key, "CHAIN_ID": "arbitrum"},
        ),
        "dlq list": (("dlq", "list", "--json"), {}),
    }
    for name, (args, overrides) in runs.items():
        done = pipeline.openpool(*args, env=overrides)
        found.exit_codes[name] = done.returncode
        found.evidence.add(f"{name} stdout", done.stdout)
        found.evidence.add(f"{name} stderr", done.stderr)

    await _collect_topics(pipeline, prefix, found.evidence)
    await _collect_buckets(pipeline, found.evidence)
    found.evidence.add_files("log", sorted(logs.iterdir()))
    found.evidence.add_files("working directory", sorted(p for p in cwd.rglob("*") if p != keystore))
    yield found


async def _ok(http: aiohttp.ClientSession, url: str) -> bool:
    return (await _get(http, url))[0] == 200


async def _collect_topics(pipeline: PipelineProcess, prefix: str, evidence: Evidence) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=pipeline.env["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    try:
        names = sorted(name for name in await admin.list_topics() if name.startswith(prefix))
    finally:
        await admin.close()
    for name in names:
        for record in await pipeline.read(name):
            headers = b"".join(value for _, value in record.headers)
            evidence.add(f"topic {name}", (record.key or b"") + b"\n" + (record.value or b"") + b"\n" + headers)


async def _collect_buckets(pipeline: PipelineProcess, evidence: Evidence) -> None:
    async with get_session().create_client(
        "s3",
        endpoint_url=pipeline.env["S3_ENDPOINT"],
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    ) as s3:
        for bucket in (pipeline.env["S3_METRICS_BUCKET"], pipeline.env["S3_BUCKET"]):
            async for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", ()):
                    body = await (await s3.get_object(Bucket=bucket, Key=item["Key"]))["Body"].read()
                    evidence.add(f"s3 {bucket}/{item['Key']}", body)


async def test_no_private_key_password_or_aws_secret_appears_in_anything_the_pipeline_produced(
    scenario: Scenario,
) -> None:
    assert scenario.evidence.leaks(scenario.secrets) == {}


async def test_the_search_covered_logs_metrics_api_dead_letters_wal_read_models_and_exports(
    scenario: Scenario,
) -> None:
    evidence = scenario.evidence
    for source in ("bridge /metrics", "worker /metrics", "log:bridge.log", "log:worker.log", "working directory"):
        assert evidence.sources(source), source
    assert len(evidence.sources("API GET")) == len(ENDPOINTS)
    workers = [text for where, text in evidence.items.items() if where.startswith("API GET /workers (200)")]
    assert workers and "worker_earnings" in workers[0]
    app_topics = {where.split(" ", 1)[1].split(".", 1)[-1] for where in evidence.sources("topic ")}
    assert {"dead-letters", "payout-wal", "earnings", "connections", "performance", "pool-totals"} <= app_topics
    assert any("changelog" in topic for topic in app_topics)
    assert evidence.sources("s3 ") and any("/audit/" in where for where in evidence.sources("s3 "))
    codes = scenario.exit_codes
    assert (codes["payments plan"], codes["payments run --once"], codes["payments status"]) == (0, 0, 0)
    assert codes["payments run --once (wrong password)"] == 4
    assert codes["payments run --once (key two digits short)"] == 4
    assert codes["bridge --once (bad threshold next to the secrets)"] == 2
    assert "PAYMENT_THRESHOLD_WEI" in evidence.items["bridge --once (bad threshold next to the secrets) stderr"]
    assert codes["payments plan (bad chain id next to the secrets)"] == 2


async def test_the_read_api_refuses_every_mutating_method(scenario: Scenario) -> None:
    assert len(scenario.refusals) == len(ENDPOINTS) * len(MUTATING)
    assert {request: status for request, status in scenario.refusals.items() if status not in (404, 405)} == {}


def test_a_private_key_pasted_into_the_payer_address_variable_is_not_echoed(tmp_path: Path) -> None:
    secret = PayerSecrets.fresh()
    pipeline = PipelineProcess({**pipeline_env("t-pasted", "127.0.0.1:9", "http://127.0.0.1:9")}, tmp_path)
    done = pipeline.openpool("payments", "plan", env={"OPENPOOL_PAYER_ADDRESS": secret.private_key})
    assert done.returncode == 2
    assert "OPENPOOL_PAYER_ADDRESS" in done.stderr
    assert secret.found_in(done.stdout + done.stderr) == []
