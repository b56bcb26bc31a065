"""A small pool's event files, the pure core's answer for them, and the environment of a pipeline process.

The oracle applies the pure core directly to the files' events, so an integration test that compares the
pipeline's output with it checks the whole shell (bridge, topics, agents, tables) to the wei.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
from aiobotocore.session import get_session
from pydantic import AliasChoices

from openpool.domain.commission import CommissionRate
from openpool.domain.correlation import CorrelationPolicy, CorrelationState, attribute
from openpool.domain.earnings import EarningsEntry, apply_job
from openpool.domain.event_files import SourceKey, parse_event_file
from openpool.domain.events import NodeType
from openpool.settings import Settings, load_settings

ADDRESSES = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
STAMP = "%Y%m%dT%H%M%SZ"


def _envelope(event_type: str, payload: dict[str, Any], region: str, node_type: str, dt: datetime) -> dict[str, Any]:
    return {
        "DT": dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EventType": event_type,
        "ID": str(uuid.UUID(int=random.getrandbits(128), version=4)),
        "NodeType": node_type,
        "Payload": payload,
        "Region": region,
        "Version": 1,
    }


def pool_files(seed: int, minutes: int = 6, transcode_jobs: int = 40, ai_jobs: int = 20) -> dict[str, bytes]:
    """Transcode files in two regions and AI files whose halves are split across files in both orders."""
    random.seed(seed)
    start = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    files: dict[str, bytes] = {}
    pending_processed: list[dict[str, Any]] = []
    for minute in range(minutes):
        t0 = start + timedelta(minutes=minute)
        for region in ("us-central", "eu-central"):
            events = [
                _envelope(
                    "worker-connected",
                    {"ethAddress": a, "connection": f"10.0.0.{i}:4{minute}00"},
                    region,
                    "transcode",
                    t0,
                )
                for i, a in enumerate(ADDRESSES[:3])
            ]
            for n in range(transcode_jobs):
                address = random.choice(ADDRESSES[:3])
                units = random.randint(1, 10**8)
                price = random.randint(1, 5000)
                events.append(
                    _envelope(
                        "job-processed",
                        {
                            "ethAddress": address,
                            "computeUnits": units,
                            "pricePerComputeUnit": price,
                            "fees": units * price,
                            "responseTime": random.randint(0, 3000),
                            "duration": 2000,
                            "realTimeRatio": 1,
                        },
                        region,
                        "transcode",
                        t0 + timedelta(seconds=n),
                    )
                )
            files[_key(region, "transcode", t0)] = json.dumps(events).encode()
        events = pending_processed
        pending_processed = []
        for n in range(ai_jobs):
            request_id = f"{random.getrandbits(32):08x}"
            dt = t0 + timedelta(seconds=n)
            received = _envelope(
                "job-received",
                {"ethAddress": random.choice(ADDRESSES), "requestID": request_id, "pipeline": "llm", "modelID": "m"},
                "us-central",
                "ai",
                dt,
            )
            units = random.randint(1, 10**6)
            processed = _envelope(
                "job-processed",
                {
                    "requestID": request_id,
                    "pipeline": "llm",
                    "modelID": "m",
                    "responseTime": random.randint(10**6, 10**10),
                    "computeUnits": units,
                    "pricePerComputeUnit": 7,
                    "fees": units * 7,
                },
                "us-central",
                "ai",
                dt,
            )
            events.append(received)
            # A third of the processed halves arrive in the next file, after their partner.
            (pending_processed if n % 3 == 0 else events).append(processed)
        files[_key("us-central", "ai", t0)] = json.dumps(events).encode()
    return files


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_ready(port: int, within: float = 90) -> None:
    """Until the process whose /readyz listens on `port` answers 200; fails with its last answer."""
    deadline = time.monotonic() + within
    answer = "no answer"
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as ready:
                    if ready.status == 200:
                        return
                    answer = f"{ready.status} {await ready.text()}"
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise AssertionError(f"port {port} not ready within {within:.0f} s: {answer}")


def _key(region: str, node_type: str, t0: datetime) -> str:
    end = t0 + timedelta(seconds=59)
    return f"{region}/{node_type}/{region}-{node_type}-{t0.strftime(STAMP)}_{end.strftime(STAMP)}.json"


def expected_earnings(files: dict[str, bytes], rate: Decimal) -> dict[tuple[str, str], EarningsEntry]:
    commission = CommissionRate.from_decimal(rate)
    states: dict[str, CorrelationState] = defaultdict(CorrelationState)
    entries: dict[tuple[str, str], EarningsEntry] = {}
    for key in sorted(files):
        source = SourceKey.parse(key)
        assert source is not None
        for item in parse_event_file(source, files[key]).events:
            event = item.event
            if event.node_type == NodeType.AI or event.event_type.value == "job-processed":
                states[event.partition_key], outcomes = attribute(
                    states[event.partition_key], event, CorrelationPolicy()
                )
                for job in outcomes.attributed:
                    slot = (job.worker_address, job.partition_key)
                    entries[slot] = apply_job(entries.get(slot), job, commission)
    return entries


def pipeline_env(name_prefix: str, kafka_bootstrap: str, s3_endpoint: str, **overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "S3_ENDPOINT": s3_endpoint,
        "S3_BUCKET": f"{name_prefix}-events",
        "S3_METRICS_BUCKET": f"{name_prefix}-metrics",
        "OPENPOOL_APP_ID": name_prefix,
        "OPENPOOL_DATA_DIR": f".openpool/test-data/{name_prefix}",
        "OPENPOOL_WEB_PORT": str(free_port()),
        "OPENPOOL_EVENTS_PARTITIONS": "4",
        "OPENPOOL_WORKER_PARTITIONS": "4",
        "OPENPOOL_KAFKA_SESSION_TIMEOUT_SECONDS": "6",
        "OPENPOOL_KAFKA_HEARTBEAT_INTERVAL_SECONDS": "1",
        "S3_SENSOR_INTERVAL_SECONDS": "1",
        "OPENPOOL_METRICS_PORT": "0",
        **overrides,
    }
    env.pop("S3_ARCHIVE_BUCKET", None)
    return env


async def upload(env: dict[str, str], files: dict[str, bytes]) -> None:
    session = get_session()
    async with session.create_client(
        "s3", endpoint_url=env["S3_ENDPOINT"], region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    ) as s3:
        for bucket in (env["S3_BUCKET"], env["S3_METRICS_BUCKET"]):
            with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
                await s3.create_bucket(Bucket=bucket)
        for key, body in files.items():
            await s3.put_object(Bucket=env["S3_BUCKET"], Key=key, Body=body)


def settings_of(env: dict[str, str]) -> Settings:
    """The settings a pipeline process started with `env` reads."""
    known = {
        field.validation_alias.choices[0]
        for field in Settings.model_fields.values()
        if isinstance(field.validation_alias, AliasChoices)
    }
    return load_settings(**{name: value for name, value in env.items() if name in known})
