"""Where a generated data set goes: a folder laid out like the bucket, or the bucket itself.

Both write in the manifest's upload order, so that late files really arrive after the files that overtook
them, and a repeated upload really replaces the object with the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from openpool.generator.dataset import GeneratedDataSet
from openpool.s3_client import s3_client
from openpool.settings import Settings

_MISSING_BUCKET = {"404", "NoSuchBucket", "NotFound"}
_OURS_ALREADY = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}


def write_folder(dataset: GeneratedDataSet, root: Path) -> None:
    for key, body in dataset.files:
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def write_manifest(dataset: GeneratedDataSet, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dataset.manifest_json())


async def upload(dataset: GeneratedDataSet, settings: Settings) -> tuple[str, ...]:
    """PUT every file to `settings.s3_bucket` one after another, in upload order; returns the keys as put.

    The bucket is created if it does not exist. Sequential on purpose: concurrent PUTs would lose the order
    that makes late files late.
    """
    put: list[str] = []
    async with s3_client(settings) as client:
        await _ensure_bucket(client, settings.s3_bucket, settings.aws_region)
        for key, body in dataset.files:
            await client.put_object(Bucket=settings.s3_bucket, Key=key, Body=body, ContentType="application/json")
            put.append(key)
    return tuple(put)


async def _ensure_bucket(client: Any, bucket: str, region: str) -> None:
    try:
        await client.head_bucket(Bucket=bucket)
        return
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in _MISSING_BUCKET:
            raise
    options: dict[str, Any] = (
        {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    try:
        await client.create_bucket(Bucket=bucket, **options)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in _OURS_ALREADY:
            raise
