"""Consumer lag of this worker, per partition it consumes, in records and in seconds.

Records: the partition's highwater minus the next offset this worker will process. Seconds: how old the
last processed record is while records wait behind it (0 once caught up) — the exact time lag that
broker-side exporters can only estimate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from openpool.metrics import CONSUMER_LAG_RECORDS, CONSUMER_LAG_SECONDS


@dataclass(slots=True)
class _Processed:
    offset: int
    timestamp: float


class LagTracker:
    def __init__(self, consumer_group: str) -> None:
        self._group = consumer_group
        self._processed: dict[tuple[str, int], _Processed] = {}
        self._published: set[tuple[str, int]] = set()

    def note_processed(self, message: Any) -> None:
        self._processed[(message.topic, message.partition)] = _Processed(message.offset, message.timestamp)

    def publish(self, assigned: set[Any], highwater: Any) -> None:
        """Refresh the gauges of the partitions assigned now; a revoked partition's series is removed, since
        its new owner reports it."""
        now = time.time()
        owned = {(tp.topic, tp.partition) for tp in assigned}
        for topic, partition in self._published - owned:
            for gauge in (CONSUMER_LAG_RECORDS, CONSUMER_LAG_SECONDS):
                gauge.remove(self._group, topic, str(partition))
            self._processed.pop((topic, partition), None)
        self._published &= owned
        for tp in assigned:
            end = highwater(tp)
            processed = self._processed.get((tp.topic, tp.partition))
            if end is None or processed is None:
                continue
            waiting = max(end - (processed.offset + 1), 0)
            labels = {"consumer_group": self._group, "topic": tp.topic, "partition": str(tp.partition)}
            CONSUMER_LAG_RECORDS.labels(**labels).set(waiting)
            CONSUMER_LAG_SECONDS.labels(**labels).set(max(now - processed.timestamp, 0.0) if waiting else 0.0)
            self._published.add((tp.topic, tp.partition))
