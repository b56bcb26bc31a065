"""Which archived files a replay republishes, and how. Pure decisions, no I/O.

The archive holds, under S3_ARCHIVE_PREFIX + the original key, the version of each file the bridge published
last (it copies only that version, CopySourceIfMatch). What a replay may do with it depends on what the
target app's bridge progress says of the key:

- nothing: the target never saw the file, so it gets the whole publication the bridge would make (events,
  dead letters, progress mark);
- this very version: its events again; the stream app's file ledger recognises every position it applied;
- this version, but published as a changed file (events shared with the earlier version were skipped then):
  held, since the earlier version is no longer in the archive and the shared events would count twice;
- another version: held, the archive is behind the target (or was written by another deployment).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from bridge.listing import ListedObject
from bridge.progress import ProgressRecord
from openpool.domain.event_files import SourceKey


@dataclass(frozen=True, slots=True)
class ArchiveFilter:
    """Files whose flush window `[start, end]` (the key's time stamps) meets `[since, until)`, in the partitions
    named; an empty filter selects the whole archive."""

    since: datetime | None = None
    until: datetime | None = None
    regions: frozenset[str] = frozenset()
    node_types: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        return self.since is None and self.until is None and not self.regions and not self.node_types

    def covers_prefix(self, region: str, node_type: str) -> bool:
        return (not self.regions or region in self.regions) and (not self.node_types or node_type in self.node_types)

    def selects(self, source: SourceKey) -> bool:
        if not self.covers_prefix(source.region, source.node_type):
            return False
        if self.since is not None and source.end < self.since:
            return False
        return self.until is None or source.start < self.until


class Action(StrEnum):
    PUBLISH = "publish"
    """The target never published the key: the bridge's whole publication, progress marked archived."""
    REPUBLISH = "republish"
    """The target published exactly this version: its events again, which the stream app recognises."""
    HOLD = "hold"


class HoldReason(StrEnum):
    CHANGED_FILE = "changed_file"
    OTHER_VERSION = "other_version"
    NOT_AN_EVENT_FILE = "not_an_event_file"


@dataclass(frozen=True, slots=True)
class FileDecision:
    archived: ListedObject
    """The archive's object: its key carries the archive prefix, its version is the archived ETag."""
    source_key: str
    """The original key, as the bridge published it (the archive key without the archive prefix)."""
    action: Action
    reason: HoldReason | None = None
    detail: str = ""


class PublishedRecords(Protocol):
    """The target app's bridge progress: the latest record of a key (bridge.progress.ProgressIndex)."""

    def get(self, key: str) -> ProgressRecord | None: ...


def original_key(archive_key: str, archive_prefix: str) -> str | None:
    if not archive_key.startswith(archive_prefix) or archive_key == archive_prefix:
        return None
    return archive_key[len(archive_prefix) :]


def replay_plan(
    listed: Iterable[ListedObject], archive_prefix: str, selection: ArchiveFilter, published: PublishedRecords
) -> list[FileDecision]:
    """The decision for every selected archived file, oldest flush first (the bridge's publication order)."""
    chosen: list[tuple[SourceKey, FileDecision]] = []
    others: list[FileDecision] = []
    for archived in listed:
        key = original_key(archived.key, archive_prefix)
        if key is None:
            continue
        source = SourceKey.parse(key)
        if source is None:
            # Keys of another layout were dead-lettered once by the bridge; they carry no events. Only a
            # replay of the whole archive mentions them.
            if selection.is_empty:
                others.append(FileDecision(archived, key, Action.HOLD, HoldReason.NOT_AN_EVENT_FILE))
            continue
        if selection.selects(source):
            chosen.append((source, decide(archived, key, published.get(key))))
    chosen.sort(key=lambda item: (item[0].start, item[0].key))
    return [decision for _, decision in chosen] + sorted(others, key=lambda d: d.source_key)


def decide(archived: ListedObject, key: str, record: ProgressRecord | None) -> FileDecision:
    if record is None:
        return FileDecision(archived, key, Action.PUBLISH)
    if record.version != archived.version:
        return FileDecision(
            archived,
            key,
            Action.HOLD,
            HoldReason.OTHER_VERSION,
            f"the archive holds version {archived.version}, the target's bridge last published {record.version}",
        )
    if record.skipped_events:
        return FileDecision(
            archived,
            key,
            Action.HOLD,
            HoldReason.CHANGED_FILE,
            f"{record.skipped_events} of its events were published with version {record.previous_version}, "
            "which the archive no longer holds; republished whole they would count twice",
        )
    return FileDecision(archived, key, Action.REPUBLISH)
