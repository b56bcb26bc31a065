from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiobotocore.session import get_session

from bridge.backoff import Backoff
from bridge.service import BridgeOptions
from openpool.settings import Settings
from tests.pipeline_process import pipeline

__all__ = ["pipeline"]

FAST_RETRIES = BridgeOptions(backoff=Backoff(attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.05))


class Buckets:
    """The test's source bucket (and archive bucket), written the way the emitter writes."""

    def __init__(self, client: Any, source: str, archive: str) -> None:
        self.client = client
        self.source = source
        self.archive = archive

    async def put(self, key: str, body: bytes, bucket: str | None = None) -> str:
        response = await self.client.put_object(
            Bucket=bucket or self.source, Key=key, Body=body, ContentType="application/json"
        )
        return str(response["ETag"]).strip('"')

    async def put_many(self, files: list[tuple[str, bytes]], concurrency: int = 20) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(key: str, body: bytes) -> None:
            async with gate:
                await self.put(key, body)

        await asyncio.gather(*(one(key, body) for key, body in files))

    async def keys(self, bucket: str) -> dict[str, str]:
        found: dict[str, str] = {}
        async for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found.update((o["Key"], o["ETag"].strip('"')) for o in page.get("Contents", ()))
        return found


@pytest.fixture
async def buckets(s3_endpoint: str, name_prefix: str) -> AsyncIterator[Buckets]:
    async with get_session().create_client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as client:
        source, archive = f"{name_prefix}-src", f"{name_prefix}-archive"
        await client.create_bucket(Bucket=source)
        await client.create_bucket(Bucket=archive)
        yield Buckets(client, source, archive)


@pytest.fixture
def make_settings(kafka_bootstrap: str, s3_endpoint: str, name_prefix: str) -> Callable[..., Settings]:
    """Settings of this test's bridge; overrides by environment-variable name."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "S3_ENDPOINT": s3_endpoint,
            "S3_BUCKET": f"{name_prefix}-src",
            "S3_ARCHIVE_BUCKET": None,
            "OPENPOOL_APP_ID": name_prefix,
            "OPENPOOL_EVENTS_PARTITIONS": 4,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }
        return Settings(_env_file=None, **(values | overrides))

    return make
