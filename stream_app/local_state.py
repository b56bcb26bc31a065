"""A worker trusts its local table state only after a clean shutdown.

Faust writes a table value to RocksDB at once and to its changelog later (buffered, acknowledged
asynchronously). After a SIGKILL, an out-of-memory kill or a crash, the local store can hold values the
changelog never received. Such a value hides itself: the record that produced it is not committed, so it is
delivered again, the table guards see it as already applied and write nothing, and the changelog never gets
it. Once the partition moves to another worker, or the data dir is lost, the value is gone, and with it fees.
So local state survives only a clean shutdown, after which every changelog record was acknowledged; after any
other end the worker restores its tables from the changelogs, as a new worker does.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

CLEAN_SHUTDOWN_MARKER = "clean-shutdown"


def discard_unless_clean(tabledir: Path) -> bool:
    """Call before the tables open; returns whether local state was discarded. The marker is consumed, so a
    run that ends uncleanly leaves none."""
    marker = tabledir / CLEAN_SHUTDOWN_MARKER
    if marker.exists():
        marker.unlink()
        return False
    if not tabledir.exists():
        return False
    log.warning(
        "the last run did not shut down cleanly; local tables are discarded and restored from the changelogs",
        extra={"tabledir": str(tabledir)},
    )
    shutil.rmtree(tabledir)
    return True


def mark_clean(tabledir: Path) -> None:
    """Call once the worker stopped cleanly: tables closed, producer flushed."""
    tabledir.mkdir(parents=True, exist_ok=True)
    (tabledir / CLEAN_SHUTDOWN_MARKER).touch()
