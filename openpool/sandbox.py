"""A fresh instance of the pipeline on the local stack: its own app id, buckets, data dir and web port.

The demo and the benchmarks each start one (or several) so that a run never reads what an earlier run left
in a shared bucket or topic, and a second run works without any clean-up. Every difference from the stack's
settings is an environment variable, so a child process (`openpool run`, `openpool worker`) and this process
(`settings()`) see the same configuration.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from openpool.ports import PortTaken, check_free
from openpool.s3_client import s3_client
from openpool.settings import Settings, load_settings

_OURS_ALREADY = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_or_free(preferred: int) -> int:
    """`preferred` if the processes could listen on it, else any free port."""
    try:
        check_free("port", preferred, host="0.0.0.0")
    except PortTaken:
        return free_port()
    return preferred


@dataclass(frozen=True, slots=True)
class Sandbox:
    app_id: str
    root: Path
    """The folder holding every sandbox's data dir and logs, one sub-folder per app id."""
    web_port: int
    metrics_port: int
    overrides: Mapping[str, str] = field(default_factory=dict)
    """Further settings, by environment variable name."""

    @classmethod
    def create(
        cls, prefix: str, root: Path, now: datetime, *, web_port: int | None = None, metrics_port: int | None = None
    ) -> Sandbox:
        # Bucket names allow lower case, digits and hyphens only: the app id doubles as their prefix.
        app_id = f"{prefix}-{now:%Y%m%d-%H%M%S}".lower()
        return cls(app_id, root, web_port or free_port(), metrics_port or free_port())

    def named(self, suffix: str) -> Sandbox:
        """A sibling sandbox (same root and settings) with its own app id, buckets and ports."""
        return replace(self, app_id=f"{self.app_id}-{suffix}", web_port=free_port(), metrics_port=free_port())

    def with_settings(self, **overrides: str) -> Sandbox:
        return replace(self, overrides={**self.overrides, **overrides})

    @property
    def folder(self) -> Path:
        return self.root / self.app_id

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def log_file(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    @property
    def events_bucket(self) -> str:
        return f"{self.app_id}-events"

    @property
    def metrics_bucket(self) -> str:
        return f"{self.app_id}-metrics"

    @property
    def archive_bucket(self) -> str:
        return f"{self.app_id}-archive"

    def env(self) -> dict[str, str]:
        return {
            "OPENPOOL_APP_ID": self.app_id,
            "S3_BUCKET": self.events_bucket,
            "S3_METRICS_BUCKET": self.metrics_bucket,
            "S3_ARCHIVE_BUCKET": self.archive_bucket,
            "OPENPOOL_DATA_DIR": str(self.data_dir),
            "OPENPOOL_WEB_PORT": str(self.web_port),
            "OPENPOOL_METRICS_PORT": str(self.metrics_port),
            **self.overrides,
        }

    def settings(self) -> Settings:
        return load_settings(**self.env())

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"


async def create_buckets(settings: Settings) -> None:
    """The sandbox's event, metrics and archive buckets (moto keeps buckets in memory: create them each run)."""
    buckets = [settings.s3_bucket, settings.s3_metrics_bucket]
    if settings.s3_archive_bucket is not None:
        buckets.append(settings.s3_archive_bucket)
    options: dict[str, Any] = (
        {}
        if settings.aws_region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": settings.aws_region}}
    )
    async with s3_client(settings) as client:
        for bucket in buckets:
            try:
                await client.create_bucket(Bucket=bucket, **options)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in _OURS_ALREADY:
                    raise


async def list_keys(settings: Settings, bucket: str) -> list[str]:
    keys: list[str] = []
    async with s3_client(settings) as client:
        paginator = client.get_paginator("list_objects_v2")
        with contextlib.suppress(ClientError):
            async for page in paginator.paginate(Bucket=bucket):
                keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


async def read_json(settings: Settings, bucket: str, key: str) -> Any:
    async with s3_client(settings) as client:
        response = await client.get_object(Bucket=bucket, Key=key)
        async with response["Body"] as body:
            return json.loads(await body.read())
