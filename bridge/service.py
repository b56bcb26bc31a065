"""The bridge's poll loop, and running it. The decisions live in listing and records.

Discover the `{region}/{node_type}/` prefixes; list each from its window (or whole, on a sweep); choose the
oldest unpublished files; fetch a few ahead; send each file's records in file order and mark it once they
are all acknowledged (bridge.publisher), with a few files in flight; then archive what is marked. A file
S3 cannot serve stays unpublished and is tried again next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from bridge import listing
from bridge.archive import ArchiveOutcome, archive_version, check_archive_settings, read_archived
from bridge.backoff import Backoff
from bridge.discovery import discover_prefixes
from bridge.listing import ListedObject
from bridge.prefetch import prefetched
from bridge.progress import ProgressIndex, ProgressRecord, load_progress
from bridge.publisher import Publisher, SentFile, event_producer
from bridge.records import PreviousVersion, file_output
from bridge.s3 import ObjectStore, S3Failure, StoredObject
from openpool import metrics
from openpool.domain.event_files import ParsedFile, SourceKey, parse_event_file
from openpool.s3_client import s3_client
from openpool.settings import Settings
from openpool.topics import ensure_topics, owned_topics

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class BridgeOptions:
    """Tuning that is not (yet) a setting of its own."""

    lookback: timedelta = timedelta(hours=1)
    sweep_interval: timedelta = timedelta(hours=1)
    fetch_ahead: int = 4
    files_in_flight: int = 8
    backoff: Backoff = field(default_factory=Backoff)
    s3_timeout_seconds: float = 30.0


@dataclass(slots=True)
class BridgeReadiness:
    """What `/readyz` of a running bridge waits for: Kafka reached (topics checked, progress read, producer
    started) and one listing of the bucket completed without a failure."""

    kafka_connected: bool = False
    bucket_listed: bool = False

    def conditions(self) -> dict[str, bool]:
        return {"kafka_connected": self.kafka_connected, "bucket_listed": self.bucket_listed}


@dataclass(frozen=True, slots=True)
class PollReport:
    listing: str
    listed: int
    selected: int
    published: int
    events: int
    dead_letters: int
    failed: int
    waiting: int
    archived: int
    archive_failures: int
    listing_failures: int
    interrupted: bool


@dataclass(frozen=True, slots=True)
class _Fetched:
    stored: StoredObject
    previous: PreviousVersion | None


@dataclass(slots=True)
class _Tally:
    published: int = 0
    events: int = 0
    dead_letters: int = 0
    failed: int = 0
    interrupted: bool = False

    def add(self, record: ProgressRecord) -> None:
        self.published += 1
        self.events += record.events
        self.dead_letters += record.dead_letters


class Bridge:
    def __init__(
        self,
        settings: Settings,
        options: BridgeOptions,
        store: ObjectStore,
        producer: AIOKafkaProducer,
        index: ProgressIndex,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._settings = settings
        self._options = options
        self._store = store
        self._index = index
        self._clock = clock
        self._publisher = Publisher(producer, settings.topics, index)
        self._waiting: dict[str, ListedObject] = {}
        self._failed: set[str] = set()
        self._last_sweep: datetime | None = None
        self._archive_abandoned: set[tuple[str, str]] = set()

    async def poll(self, stop: asyncio.Event) -> PollReport:
        now = self._clock()
        sweep = listing.sweep_due(self._last_sweep, now, self._options.sweep_interval)
        listed, listing_failures = await self._list(now, sweep)
        if sweep and listing_failures == 0:
            self._last_sweep = now
        batch = listing.oldest_first(
            self._waiting.values(), self._settings.max_files_per_batch, failed_before=self._failed
        )
        tally = await self._publish(batch, stop)
        archived, archive_failures = await self._archive(stop)
        metrics.BRIDGE_OLDEST_UNPUBLISHED_FILE_AGE.set(
            listing.oldest_age_seconds(self._waiting.values(), self._clock())
        )
        metrics.BRIDGE_POLLS.labels(listing="sweep" if sweep else "window").inc()
        report = PollReport(
            listing="sweep" if sweep else "window",
            listed=listed,
            selected=len(batch),
            published=tally.published,
            events=tally.events,
            dead_letters=tally.dead_letters,
            failed=tally.failed,
            waiting=len(self._waiting),
            archived=archived,
            archive_failures=archive_failures,
            listing_failures=listing_failures,
            interrupted=tally.interrupted,
        )
        log.info("poll done", extra=asdict(report))
        return report

    async def _list(self, now: datetime, sweep: bool) -> tuple[int, int]:
        bucket = self._settings.s3_bucket
        excluded = self._settings.s3_archive_prefix if self._settings.s3_archive_bucket == bucket else None
        try:
            prefixes = await discover_prefixes(self._store, bucket, excluded=excluded)
        except S3Failure as error:
            log.error(
                "listing the bucket failed; next poll tries again", extra={"bucket": bucket, "reason": error.reason}
            )
            return 0, 1
        listed_count = 0
        failures = 0
        # A prefix that no longer exists has nothing waiting any more.
        refreshed = sorted({listing.prefix_of(key) for key in self._waiting} - set(prefixes))
        found: list[ListedObject] = []
        for prefix in prefixes:
            start_after = (
                None
                if sweep
                else listing.start_after(
                    prefix,
                    watermark=self._index.watermark(prefix),
                    unpublished_keys=[key for key in self._waiting if key.startswith(prefix)],
                    now=now,
                    lookback=self._options.lookback,
                )
            )
            try:
                objects = await self._store.list_objects(bucket, prefix, start_after)
            except S3Failure as error:
                log.error(
                    "listing a prefix failed; next poll tries again",
                    extra={"bucket": bucket, "prefix": prefix, "reason": error.reason},
                )
                failures += 1
                continue
            refreshed.append(prefix)
            listed_count += len(objects)
            found.extend(objects)
        metrics.BRIDGE_LISTED_OBJECTS.inc(listed_count)
        self._waiting = listing.waiting_after_listing(self._waiting, refreshed, listing.unpublished(found, self._index))
        self._failed &= set(self._waiting)
        return listed_count, failures

    async def _publish(self, batch: list[ListedObject], stop: asyncio.Event) -> _Tally:
        tally = _Tally()
        recognised: list[tuple[ListedObject, SourceKey]] = []
        for obj in batch:
            source = SourceKey.parse(obj.key)
            if source is not None:
                recognised.append((obj, source))
                continue
            if stop.is_set():
                tally.interrupted = True
                return tally
            tally.add(self._forget(await self._publisher.publish_unrecognised(obj, self._clock())))
        # Files are sent one after the other, in order; while the broker acknowledges one, the next is sent.
        # Each file is marked only once its own records are acknowledged.
        in_flight: deque[asyncio.Task[ProgressRecord]] = deque()
        try:
            async with contextlib.aclosing(
                prefetched(recognised, self._fetch, ahead=self._options.fetch_ahead)
            ) as files:
                async for (obj, source), fetched in files:
                    if stop.is_set():
                        tally.interrupted = True
                        break
                    if isinstance(fetched, S3Failure):
                        tally.failed += 1
                        self._failed.add(obj.key)
                        continue
                    sent = await self._send(source, fetched)
                    if sent is not None:
                        in_flight.append(asyncio.create_task(self._publisher.complete(sent, self._clock())))
                    while in_flight and (len(in_flight) > self._options.files_in_flight or in_flight[0].done()):
                        tally.add(self._forget(await in_flight.popleft()))
            while in_flight:
                tally.add(self._forget(await in_flight.popleft()))
        finally:
            # Only left on an error: the files not acknowledged stay unmarked and are published again.
            for task in in_flight:
                task.cancel()
        return tally

    async def _fetch(self, item: tuple[ListedObject, SourceKey]) -> _Fetched | S3Failure:
        """The file and, for a changed file, its archived previous version. Failures become values."""
        obj, source = item
        try:
            stored = await self._store.get(self._settings.s3_bucket, obj.key)
            previous_record = self._index.get(obj.key)
            previous = None
            if previous_record is not None and previous_record.version != stored.version:
                archived = await read_archived(self._store, self._settings, previous_record)
                if archived is not None:
                    previous = PreviousVersion(
                        archived.version, parse_event_file(source, archived.body, now=self._clock())
                    )
            return _Fetched(stored, previous)
        except S3Failure as error:
            log.error(
                "file not readable this poll; it stays unpublished",
                extra={"key": obj.key, "version": obj.version, "operation": error.operation, "reason": error.reason},
            )
            metrics.BRIDGE_FILE_FAILURES.labels(reason=error.reason).inc()
            return error

    async def _send(self, source: SourceKey, fetched: _Fetched) -> SentFile | None:
        stored = fetched.stored
        previous_record = self._index.get(stored.key)
        context: dict[str, Any] = {"key": stored.key, "version": stored.version}
        if previous_record is not None and previous_record.version == stored.version:
            # The listing was older than the object: this content is already published.
            self._waiting.pop(stored.key, None)
            return None
        now = self._clock()
        parsed = parse_event_file(source, stored.body, now=now)
        output = file_output(source, stored.version, parsed, now=now, previous=fetched.previous)
        if previous_record is not None:
            self._warn_changed(context, previous_record, fetched.previous, output.skipped_events, parsed)
        if parsed.element_count == 0:
            log.warning("file holds no events (the emitter wrote null or [])", extra=context)
        previous_version = previous_record.version if previous_record is not None else None
        return await self._publisher.send(stored, output, previous_version=previous_version, now=now)

    def _warn_changed(
        self,
        context: dict[str, Any],
        previous_record: ProgressRecord,
        previous: PreviousVersion | None,
        skipped: int,
        parsed: ParsedFile,
    ) -> None:
        if previous is None:
            log.warning(
                "file changed under the same key; previous version not in the archive, publishing all its events",
                extra={**context, "previous_version": previous_record.version, "events": len(parsed.events)},
            )
            return
        log.warning(
            "file changed under the same key; publishing the new version",
            extra={
                **context,
                "previous_version": previous_record.version,
                "skipped_events": skipped,
                "events": len(parsed.events) - skipped,
            },
        )

    def _forget(self, record: ProgressRecord) -> ProgressRecord:
        """A marked file is no longer waiting."""
        self._waiting.pop(record.key, None)
        self._failed.discard(record.key)
        return record

    async def _archive(self, stop: asyncio.Event) -> tuple[int, int]:
        if self._settings.s3_archive_bucket is None:
            return 0, 0
        archived = 0
        failures = 0
        todo = [r for r in self._index.unarchived() if (r.key, r.version) not in self._archive_abandoned]
        for record in todo[: self._settings.max_files_per_batch]:
            if stop.is_set():
                break
            outcome = await archive_version(self._store, self._settings, record)
            if outcome is ArchiveOutcome.ARCHIVED:
                await self._publisher.mark_archived(record)
                archived += 1
            elif outcome is ArchiveOutcome.FAILED:
                failures += 1
            else:
                self._archive_abandoned.add((record.key, record.version))
        return archived, failures


@contextlib.asynccontextmanager
async def open_bridge(
    settings: Settings, options: BridgeOptions, *, clock: Callable[[], datetime] = _utc_now
) -> AsyncIterator[Bridge]:
    """A bridge wired to Kafka and S3: topics created, progress loaded, producer started (and flushed on exit)."""
    if settings.s3_archive_bucket is not None:
        check_archive_settings(settings)
    await ensure_topics(settings, owned_topics(settings))
    index = await load_progress(settings.kafka_bootstrap_servers, settings.topics.bridge_progress)
    producer = event_producer(settings, "bridge")
    await producer.start()
    try:
        async with s3_client(settings, timeout_seconds=options.s3_timeout_seconds) as client:
            yield Bridge(settings, options, ObjectStore(client, options.backoff), producer, index, clock=clock)
    finally:
        await producer.stop()


async def run_bridge(
    settings: Settings,
    options: BridgeOptions,
    *,
    once: bool,
    stop: asyncio.Event,
    readiness: BridgeReadiness | None = None,
) -> int:
    """Run until `stop` (or, with `once`, until nothing is left to publish). Returns the exit status.

    `readiness`, when given, is updated as the bridge gets ready (for `/readyz`)."""
    ready = BridgeReadiness() if readiness is None else readiness
    async with open_bridge(settings, options) as bridge:
        ready.kafka_connected = True
        if once:
            return await _until_done(bridge, stop)
        await _until_stopped(bridge, stop, settings.s3_sensor_interval_seconds, ready)
        return 0


async def _until_done(bridge: Bridge, stop: asyncio.Event) -> int:
    while True:
        report = await bridge.poll(stop)
        if stop.is_set():
            return 0
        if report.published == 0 or report.waiting == 0:
            break
    if report.failed or report.waiting or report.listing_failures:
        log.error(
            "files left unpublished",
            extra={"waiting": report.waiting, "failed": report.failed, "listing_failures": report.listing_failures},
        )
        return 1
    return 0


async def _until_stopped(
    bridge: Bridge, stop: asyncio.Event, interval_seconds: float, readiness: BridgeReadiness
) -> None:
    while not stop.is_set():
        report = await bridge.poll(stop)
        if report.listing_failures == 0:
            readiness.bucket_listed = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
