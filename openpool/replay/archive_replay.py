"""`replay archive`: the archived files back into an app's events topic, as the bridge published them.

The records are the bridge's own (bridge.records.file_output): key `region|node_type`, the event's DT as
timestamp, headers source_key (the original key), source_version (the archived ETag, which is the published
version's: the bridge archives with CopySourceIfMatch and checks the copy's ETag), position and event_id. A
file the target never published goes through the bridge's Publisher (events, dead letters, progress mark), so
the target's own bridge later treats it as published and archived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bridge.backoff import Backoff
from bridge.listing import ListedObject
from bridge.prefetch import prefetched
from bridge.progress import ProgressIndex, load_progress
from bridge.publisher import Publisher, event_producer
from bridge.records import file_output
from bridge.s3 import ObjectStore, S3Failure, StoredObject
from openpool.domain.event_files import SourceKey, parse_event_file
from openpool.replay.archive_selection import Action, ArchiveFilter, FileDecision, replay_plan
from openpool.s3_client import s3_client
from openpool.settings import Settings
from openpool.topics import ensure_topics, owned_topics, partitions_of

log = logging.getLogger(__name__)

FETCH_AHEAD = 8
FILES_IN_FLIGHT = 16


class ArchiveNotConfiguredError(ValueError):
    pass


@dataclass(slots=True)
class ReplayReport:
    target_app: str
    decisions: list[FileDecision]
    dry_run: bool
    files_sent: Counter[Action] = field(default_factory=Counter)
    events_sent: int = 0
    dead_letters_sent: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def planned(self) -> Counter[Action]:
        return Counter(decision.action for decision in self.decisions)

    @property
    def held(self) -> list[FileDecision]:
        return [decision for decision in self.decisions if decision.action is Action.HOLD]


async def replay_archive(
    settings: Settings, target: Settings, selection: ArchiveFilter, *, dry_run: bool
) -> ReplayReport:
    """Republish the selected archived files (of `settings`' archive) into `target`'s events topic."""
    bucket = settings.s3_archive_bucket
    if bucket is None:
        raise ArchiveNotConfiguredError("S3_ARCHIVE_BUCKET is not set: there is no archive to replay")
    if not dry_run:
        await ensure_topics(target, owned_topics(target))
    progress = await _target_progress(target)
    async with s3_client(settings) as client:
        store = ObjectStore(client, Backoff())
        listed = await _list_archive(store, bucket, settings.s3_archive_prefix, selection)
        decisions = replay_plan(listed, settings.s3_archive_prefix, selection, progress)
        report = ReplayReport(target.app_id, decisions, dry_run)
        log.info(
            "archive replay planned",
            extra={
                "target_app": target.app_id,
                "files": len(decisions),
                **{a.value: n for a, n in report.planned.items()},
            },
        )
        if not dry_run:
            await _send(store, bucket, target, progress, report)
    return report


async def _target_progress(target: Settings) -> ProgressIndex:
    topic = target.topics.bridge_progress
    if topic not in await partitions_of(target.kafka_bootstrap_servers, [topic]):
        return ProgressIndex()
    return await load_progress(target.kafka_bootstrap_servers, topic)


async def _list_archive(store: ObjectStore, bucket: str, prefix: str, selection: ArchiveFilter) -> list[ListedObject]:
    if not (selection.regions or selection.node_types):
        return await store.list_objects(bucket, prefix, None)
    listed: list[ListedObject] = []
    for region_prefix in await store.common_prefixes(bucket, prefix):
        region = region_prefix[len(prefix) :].rstrip("/")
        for cell_prefix in await store.common_prefixes(bucket, region_prefix):
            node_type = cell_prefix[len(region_prefix) :].rstrip("/")
            if selection.covers_prefix(region, node_type):
                listed.extend(await store.list_objects(bucket, cell_prefix, None))
    return listed


async def _send(
    store: ObjectStore, bucket: str, target: Settings, progress: ProgressIndex, report: ReplayReport
) -> None:
    producer = event_producer(target, "replay")
    await producer.start()
    try:
        publisher = Publisher(producer, target.topics, progress)
        todo = [decision for decision in report.decisions if decision.action is not Action.HOLD]

        async def fetch(decision: FileDecision) -> StoredObject | S3Failure:
            try:
                return await store.get(
                    bucket, decision.archived.key, if_match=decision.archived.version, missing_is_transient=False
                )
            except S3Failure as error:
                return error

        in_flight: deque[asyncio.Task[None]] = deque()
        try:
            async with contextlib.aclosing(prefetched(todo, fetch, ahead=FETCH_AHEAD)) as files:
                async for decision, fetched in files:
                    if isinstance(fetched, S3Failure):
                        log.error(
                            "archived file not readable; not replayed",
                            extra={"key": decision.archived.key, "reason": fetched.reason},
                        )
                        report.failed.append((decision.source_key, fetched.reason))
                        continue
                    # Sent one file after the other, in plan order; their acknowledgements are awaited meanwhile.
                    finish = await _send_file(publisher, decision, fetched, report)
                    in_flight.append(asyncio.create_task(finish))
                    while in_flight and (len(in_flight) > FILES_IN_FLIGHT or in_flight[0].done()):
                        await in_flight.popleft()
            while in_flight:
                await in_flight.popleft()
        finally:
            for task in in_flight:
                task.cancel()
    finally:
        await producer.stop()


async def _send_file(
    publisher: Publisher, decision: FileDecision, archived: StoredObject, report: ReplayReport
) -> Coroutine[Any, Any, None]:
    """Send the file's records; returns what completes it once the broker acknowledged them."""
    source = SourceKey.parse(decision.source_key)
    assert source is not None, "the plan sends only keys of the emitter's layout"
    now = datetime.now(UTC)
    output = file_output(source, archived.version, parse_event_file(source, archived.body, now=now), now=now)
    original = StoredObject(source.key, archived.version, archived.size, archived.last_modified, archived.body)
    if decision.action is Action.REPUBLISH:
        # The target holds this version's dead letters and progress mark already: only the events go again.
        output = replace(output, dead_letters=())
    sent = await publisher.send(original, output, previous_version=None, now=now)
    report.files_sent[decision.action] += 1
    report.events_sent += len(output.events)
    report.dead_letters_sent += len(output.dead_letters)

    async def finish() -> None:
        if decision.action is Action.PUBLISH:
            await publisher.mark_archived(await publisher.complete(sent, now))
        else:
            await asyncio.gather(*sent.acks)
        log.info(
            "archived file replayed",
            extra={
                "key": source.key,
                "version": archived.version,
                "action": decision.action.value,
                "events": len(output.events),
            },
        )

    return finish()
