"""The one way to open an S3 client from the settings: path-style, s3v4, with timeouts and no hidden retries.

Callers that must not lose work (the bridge) retry with their own backoff and typed failures; the others
(exports, audits, the generator) fail the operation and are run again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from openpool.settings import Settings


@asynccontextmanager
async def s3_client(settings: Settings, *, timeout_seconds: float = 30.0) -> AsyncIterator[Any]:
    config = AioConfig(
        connect_timeout=min(timeout_seconds, 10.0),
        read_timeout=timeout_seconds,
        retries={"total_max_attempts": 1},
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        max_pool_connections=32,
    )
    async with get_session().create_client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        region_name=settings.aws_region,
        aws_access_key_id=settings.aws_access_key_id.get_secret_value(),
        aws_secret_access_key=settings.aws_secret_access_key.get_secret_value(),
        config=config,
    ) as client:
        yield client
