"""Uploading a data set to a real S3 API, in the manifest's order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiobotocore.session import get_session

from openpool.generator import GeneratorConfig, generate
from openpool.generator.output import upload
from openpool.settings import Settings

pytestmark = pytest.mark.integration


async def test_upload_creates_the_bucket_and_puts_every_file_in_manifest_order(
    s3_endpoint: str, name_prefix: str
) -> None:
    config = GeneratorConfig(
        duration=timedelta(minutes=2),
        workers=10,
        jobs_per_second=10,
        flush_seconds=15,
        late_rate=0.3,
        duplicate_rate=0.3,
    )
    dataset = generate(config, seed=7)
    settings = Settings(
        _env_file=None,
        S3_ENDPOINT=s3_endpoint,
        S3_BUCKET=name_prefix,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    )

    put = await upload(dataset, settings)

    assert list(put) == [entry["key"] for entry in dataset.manifest.to_json()["uploads"]]
    assert dataset.manifest.late_files and dataset.manifest.duplicated_files
    async with get_session().create_client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as client:
        stored: dict[str, bytes] = {}
        async for page in client.get_paginator("list_objects_v2").paginate(Bucket=name_prefix):
            for item in page.get("Contents", ()):
                response = await client.get_object(Bucket=name_prefix, Key=item["Key"])
                async with response["Body"] as body:
                    stored[item["Key"]] = await body.read()
    assert stored == dict(dataset.files)


async def test_uploading_again_into_the_existing_bucket_puts_every_file_again(
    s3_endpoint: str, name_prefix: str
) -> None:
    dataset = generate(GeneratorConfig(duration=timedelta(seconds=90), workers=5, jobs_per_second=5), seed=8)
    settings = Settings(_env_file=None, S3_ENDPOINT=s3_endpoint, S3_BUCKET=name_prefix)
    await upload(dataset, settings)

    again = await upload(dataset, settings)

    assert len(again) == len(dataset.uploads)
