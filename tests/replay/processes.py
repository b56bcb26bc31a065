"""What the replay tests run besides `openpool replay`: the stream app until idle, and S3 at hand."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiobotocore.session import get_session

from tests.pipeline_process import PipelineProcess
from tests.stream_app.pipeline import free_port


def run_until_idle(app: PipelineProcess, timeout: float = 240) -> None:
    done = app.openpool("run", "--until-idle", timeout=timeout, env={"OPENPOOL_WEB_PORT": str(free_port())})
    assert done.returncode == 0, done.stderr[-3000:]


@contextlib.asynccontextmanager
async def s3_client(s3_endpoint: str) -> AsyncIterator[Any]:
    async with get_session().create_client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    ) as s3:
        yield s3


async def create_bucket(s3_endpoint: str, bucket: str) -> None:
    async with s3_client(s3_endpoint) as s3:
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            await s3.create_bucket(Bucket=bucket)
