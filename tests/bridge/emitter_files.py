"""Event files shaped like the emitter's: key layout, pretty-printed JSON array, UUIDv4 IDs."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
_STAMP = "%Y%m%dT%H%M%SZ"
T0 = datetime(2025, 11, 5, 15, 0, tzinfo=UTC)


def emitter_key(region: str, node_type: str, start: datetime, end: datetime | None = None) -> str:
    end = end or start + timedelta(seconds=59)
    return f"{region}/{node_type}/{region}-{node_type}-{start.strftime(_STAMP)}_{end.strftime(_STAMP)}.json"


def worker_connected(region: str, node_type: str, dt: datetime, *, event_id: str | None = None) -> dict[str, Any]:
    return {
        "DT": dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EventType": "worker-connected",
        "ID": event_id or str(uuid.uuid4()),
        "NodeType": node_type,
        "Payload": {"connection": "203.0.113.17:52344", "ethAddress": ADDRESS},
        "Region": region,
        "Version": 1,
    }


def transcode_job(region: str, dt: datetime, *, event_id: str | None = None) -> dict[str, Any]:
    return {
        "DT": dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EventType": "job-processed",
        "ID": event_id or str(uuid.uuid4()),
        "NodeType": "transcode",
        "Payload": {
            "computeUnits": 75254400,
            "duration": 2000,
            "ethAddress": ADDRESS,
            "fees": 90305280000,
            "pricePerComputeUnit": 1200,
            "realTimeRatio": 2,
            "responseTime": 812,
        },
        "Region": region,
        "Version": 1,
    }


@dataclass(frozen=True)
class EmitterFile:
    key: str
    envelopes: list[Any]

    @property
    def body(self) -> bytes:
        return json.dumps(self.envelopes, indent=2, sort_keys=True).encode()

    @property
    def event_ids(self) -> list[str]:
        return [e["ID"] for e in self.envelopes if isinstance(e, dict) and "ID" in e]


def emitter_file(
    region: str, node_type: str, start: datetime, count: int, *, spacing: timedelta = timedelta(seconds=0)
) -> EmitterFile:
    """`count` valid events starting at `start` (job-processed for transcode, worker-connected for ai)."""
    envelopes = [
        transcode_job(region, start + spacing * i)
        if node_type == "transcode"
        else worker_connected(region, node_type, start + spacing * i)
        for i in range(count)
    ]
    return EmitterFile(emitter_key(region, node_type, start), envelopes)
