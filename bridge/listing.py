"""Which keys to look at this poll, and which of them to publish. Pure decisions, no I/O.

The emitter's keys embed the flush start time (`{region}-{node_type}-{start}_{end}.json`), so within a
prefix lexicographic order is time order. A poll therefore lists each prefix only from a little before the
newest file already published (`watermark - lookback`): the cost of a poll follows the lookback window, not
the number of files ever published. The window never starts after a file that is known and still
unpublished (a failed fetch, or a file left for the next batch), and a periodic full sweep catches files
that arrive later than the lookback.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from openpool.domain.event_files import SourceKey

_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True, slots=True)
class ListedObject:
    """One object of a listing; `version` is its ETag without quotes."""

    key: str
    version: str
    size: int
    last_modified: datetime


class PublishedVersions(Protocol):
    """What the listing needs to know of the progress: the published version of a key."""

    def version_of(self, key: str) -> str | None: ...


def prefix_of(key: str) -> str:
    """`{region}/{node_type}/` of a key (the first two path segments)."""
    region, _, rest = key.partition("/")
    node_type, _, _ = rest.partition("/")
    return f"{region}/{node_type}/"


def window_start_key(prefix: str, start: datetime) -> str:
    """The smallest key the emitter could write for a flush starting at `start` or later, minus one.

    It is a strict prefix of the keys of flushes that start at `start`, so it sorts before them, and after
    every key of an earlier start.
    """
    region, _, rest = prefix.partition("/")
    node_type = rest.rstrip("/")
    return f"{prefix}{region}-{node_type}-{start.strftime(_STAMP)}"


def start_after(
    prefix: str,
    *,
    watermark: datetime | None,
    unpublished_keys: Iterable[str],
    now: datetime,
    lookback: timedelta,
) -> str | None:
    """The StartAfter of this poll's listing of `prefix`; None means list the whole prefix."""
    if watermark is None:
        return None
    bound = window_start_key(prefix, min(watermark, now) - lookback)
    for key in unpublished_keys:
        # key[:-1] is a strict prefix of key, so the listing still returns key.
        bound = min(bound, key[:-1])
    return bound


def sweep_due(last_sweep: datetime | None, now: datetime, interval: timedelta) -> bool:
    return last_sweep is None or now - last_sweep >= interval


def unpublished(listed: Iterable[ListedObject], progress: PublishedVersions) -> list[ListedObject]:
    """Objects whose key was never published, or was published with other content (a new version)."""
    return [obj for obj in listed if progress.version_of(obj.key) != obj.version]


def oldest_first(
    objects: Iterable[ListedObject], limit: int, *, failed_before: Collection[str] = ()
) -> list[ListedObject]:
    """The batch of this poll: the oldest files by flush start (LastModified for keys of another layout).

    Files whose fetch failed in an earlier poll come after the others, so a few unreadable files cannot
    hold every slot of the batch while newer files wait.
    """
    return sorted(objects, key=lambda obj: (obj.key in failed_before, *_age_order(obj)))[:limit]


def _age_order(obj: ListedObject) -> tuple[datetime, str]:
    source = SourceKey.parse(obj.key)
    return (source.start if source is not None else obj.last_modified, obj.key)


def waiting_after_listing(
    waiting: Mapping[str, ListedObject],
    listed_prefixes: Iterable[str],
    still_unpublished: Iterable[ListedObject],
) -> dict[str, ListedObject]:
    """The known-but-unpublished files after a poll's listings.

    A successful listing of a prefix covers every waiting key of it (start_after never passes one), so its
    result replaces what was known of that prefix; a prefix whose listing failed keeps what it had.
    """
    refreshed = set(listed_prefixes)
    kept = {key: obj for key, obj in waiting.items() if prefix_of(key) not in refreshed}
    kept.update((obj.key, obj) for obj in still_unpublished if prefix_of(obj.key) in refreshed)
    return kept


def oldest_age_seconds(waiting: Iterable[ListedObject], now: datetime) -> float:
    ages = [(now - obj.last_modified).total_seconds() for obj in waiting]
    return max(0.0, max(ages, default=0.0))
