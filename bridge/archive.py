"""Copying published files to the archive bucket, and reading a previous version back from it.

The copy is made only of the version that was published (CopySourceIfMatch, and the copy's ETag is checked
because not every S3 implementation honours the condition): the archive then only ever holds content that
is in Kafka, which is what lets a changed file skip the events its previous version already carried.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from bridge.progress import ProgressRecord
from bridge.s3 import ObjectMissing, ObjectStore, S3Failure, StoredObject, VersionMismatch
from openpool.metrics import BRIDGE_ARCHIVE_FAILURES
from openpool.settings import Settings

log = logging.getLogger(__name__)


class ArchiveOutcome(StrEnum):
    ARCHIVED = "archived"
    # The source now holds another version; that one will be published and archived in its turn.
    SUPERSEDED = "superseded"
    # The source is gone (deleted by someone else or a lifecycle rule) before it could be copied.
    SOURCE_MISSING = "source_missing"
    # S3 did not answer; tried again on a later poll.
    FAILED = "failed"


def archive_key(settings: Settings, key: str) -> str:
    return f"{settings.s3_archive_prefix}{key}"


class ArchiveConfigurationError(ValueError):
    pass


def check_archive_settings(settings: Settings) -> None:
    """The archive must not be the source itself: an empty prefix in the same bucket copies onto the file."""
    if settings.s3_archive_bucket == settings.s3_bucket and not settings.s3_archive_prefix:
        raise ArchiveConfigurationError("S3_ARCHIVE_BUCKET equals S3_BUCKET, so S3_ARCHIVE_PREFIX must not be empty")


async def archive_version(store: ObjectStore, settings: Settings, record: ProgressRecord) -> ArchiveOutcome:
    """Copy the published version of `record.key` to the archive; delete the source if configured."""
    target_bucket = settings.s3_archive_bucket
    if target_bucket is None:
        raise ArchiveConfigurationError("no S3_ARCHIVE_BUCKET")
    context = {"key": record.key, "version": record.version, "archive_bucket": target_bucket}
    try:
        copied = await store.copy(
            settings.s3_bucket, record.key, target_bucket, archive_key(settings, record.key), if_match=record.version
        )
        if copied != record.version:
            log.warning("source changed before it was archived", extra={**context, "copied_version": copied})
            return ArchiveOutcome.SUPERSEDED
        if settings.s3_delete_after_archive:
            await store.delete(settings.s3_bucket, record.key, if_match=record.version)
    except VersionMismatch:
        log.warning("source changed before it was archived", extra=context)
        return ArchiveOutcome.SUPERSEDED
    except ObjectMissing:
        return await _source_missing(store, target_bucket, settings, record, context)
    except S3Failure as error:
        log.error("archive failed; retried next poll", extra={**context, "reason": error.reason})
        BRIDGE_ARCHIVE_FAILURES.labels(reason=error.reason).inc()
        return ArchiveOutcome.FAILED
    return ArchiveOutcome.ARCHIVED


async def read_archived(store: ObjectStore, settings: Settings, record: ProgressRecord) -> StoredObject | None:
    """The archived copy of exactly `record.version`, or None when the archive does not hold it.

    Other S3 failures propagate: the caller then leaves the new version for the next poll rather than
    republishing events it could have recognised.
    """
    if settings.s3_archive_bucket is None or not record.archived:
        return None
    try:
        return await store.get(
            settings.s3_archive_bucket,
            archive_key(settings, record.key),
            if_match=record.version,
            missing_is_transient=False,
        )
    except (ObjectMissing, VersionMismatch) as error:
        log.warning(
            "previous version not in the archive",
            extra={"key": record.key, "version": record.version, "reason": error.reason},
        )
        return None


async def _source_missing(
    store: ObjectStore, target_bucket: str, settings: Settings, record: ProgressRecord, context: dict[str, str]
) -> ArchiveOutcome:
    try:
        archived_version = await store.head_version(target_bucket, archive_key(settings, record.key))
    except ObjectMissing:
        archived_version = None
    except S3Failure as error:
        log.error("archive check failed; retried next poll", extra={**context, "reason": error.reason})
        BRIDGE_ARCHIVE_FAILURES.labels(reason=error.reason).inc()
        return ArchiveOutcome.FAILED
    if archived_version == record.version:
        # An earlier attempt copied (and deleted the source), then stopped before recording it.
        return ArchiveOutcome.ARCHIVED
    log.error("source vanished before it was archived", extra=context)
    BRIDGE_ARCHIVE_FAILURES.labels(reason="source_missing").inc()
    return ArchiveOutcome.SOURCE_MISSING
