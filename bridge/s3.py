"""The S3 operations the bridge uses, with timeouts, retries and typed failures.

botocore's own retries are switched off so that every retry goes through one visible, logged policy
(bridge.backoff). After the last attempt an operation raises S3Failure (or one of its subclasses) carrying a
machine-readable reason; callers decide what a failure means for a file (it stays unpublished).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError

from bridge.backoff import Backoff, retrying
from bridge.listing import ListedObject

T = TypeVar("T")

_THROTTLING = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
}
_MISSING = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION = {"PreconditionFailed", "412"}


class S3Failure(Exception):
    def __init__(self, operation: str, bucket: str, key: str, reason: str) -> None:
        super().__init__(f"{operation} s3://{bucket}/{key} failed: {reason}")
        self.operation = operation
        self.bucket = bucket
        self.key = key
        self.reason = reason


class ObjectMissing(S3Failure):
    """The key does not exist (any more)."""


class VersionMismatch(S3Failure):
    """The object's ETag is not the one asked for: it was replaced."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    version: str
    size: int
    last_modified: datetime
    body: bytes


def etag_version(etag: str) -> str:
    return etag.strip('"')


class ObjectStore:
    def __init__(self, client: Any, backoff: Backoff) -> None:
        self._client = client
        self._backoff = backoff

    async def common_prefixes(self, bucket: str, prefix: str = "") -> list[str]:
        """The next path level under `prefix` (`Delimiter='/'`), e.g. `us-central/` under ``."""
        found: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
            if token:
                params["ContinuationToken"] = token
            page = await self._call("list", bucket, prefix, partial(self._client.list_objects_v2, **params))
            found.extend(entry["Prefix"] for entry in page.get("CommonPrefixes", ()))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return found

    async def list_objects(self, bucket: str, prefix: str, start_after: str | None) -> list[ListedObject]:
        objects: list[ListedObject] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
            if start_after:
                params["StartAfter"] = start_after
            if token:
                params["ContinuationToken"] = token
            page = await self._call("list", bucket, prefix, partial(self._client.list_objects_v2, **params))
            objects.extend(
                ListedObject(
                    key=entry["Key"],
                    version=etag_version(entry["ETag"]),
                    size=int(entry["Size"]),
                    last_modified=entry["LastModified"],
                )
                for entry in page.get("Contents", ())
            )
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return objects

    async def get(
        self, bucket: str, key: str, *, if_match: str | None = None, missing_is_transient: bool = True
    ) -> StoredObject:
        """The object and its body. A missing key is retried by default: a listing just returned it."""

        async def fetch() -> StoredObject:
            params: dict[str, Any] = {"Bucket": bucket, "Key": key}
            if if_match is not None:
                params["IfMatch"] = f'"{if_match}"'
            response = await self._client.get_object(**params)
            async with response["Body"] as stream:
                body: bytes = await stream.read()
            return StoredObject(
                key=key,
                version=etag_version(response["ETag"]),
                size=len(body),
                last_modified=response["LastModified"],
                body=body,
            )

        return await self._call("get", bucket, key, fetch, missing_is_transient=missing_is_transient)

    async def head_version(self, bucket: str, key: str) -> str:
        response = await self._call(
            "head", bucket, key, lambda: self._client.head_object(Bucket=bucket, Key=key), missing_is_transient=False
        )
        return etag_version(response["ETag"])

    async def copy(self, source_bucket: str, key: str, target_bucket: str, target_key: str, *, if_match: str) -> str:
        """Server-side copy of the version `if_match` of `key`; returns the ETag of the copy."""
        response = await self._call(
            "copy",
            source_bucket,
            key,
            lambda: self._client.copy_object(
                Bucket=target_bucket,
                Key=target_key,
                CopySource={"Bucket": source_bucket, "Key": key},
                CopySourceIfMatch=f'"{if_match}"',
            ),
            missing_is_transient=False,
        )
        return etag_version(response["CopyObjectResult"]["ETag"])

    async def delete(self, bucket: str, key: str, *, if_match: str) -> None:
        """Delete `key` only while it still holds version `if_match`."""
        await self._call(
            "delete",
            bucket,
            key,
            lambda: self._client.delete_object(Bucket=bucket, Key=key, IfMatch=f'"{if_match}"'),
            missing_is_transient=False,
        )

    async def _call(
        self,
        operation: str,
        bucket: str,
        key: str,
        request: Callable[[], Awaitable[T]],
        *,
        missing_is_transient: bool = False,
    ) -> T:
        def transient(error: BaseException) -> bool:
            return is_transient(error) or (missing_is_transient and _code(error) in _MISSING)

        try:
            return await retrying(
                request,
                backoff=self._backoff,
                is_transient=transient,
                context={"operation": operation, "bucket": bucket, "key": key},
            )
        except (ClientError, BotoCoreError, aiohttp.ClientError, OSError) as error:
            code = _code(error)
            if code in _MISSING:
                raise ObjectMissing(operation, bucket, key, code) from error
            if code in _PRECONDITION:
                raise VersionMismatch(operation, bucket, key, code) from error
            raise S3Failure(operation, bucket, key, code) from error


def is_transient(error: BaseException) -> bool:
    """Throttling, server errors, timeouts and broken connections: worth another attempt."""
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return status >= 500 or status == 429 or _code(error) in _THROTTLING
    return isinstance(
        error,
        HTTPClientError | BotoConnectionError | IncompleteReadError | aiohttp.ClientError | OSError,
    )


def _code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__
