"""The record stage 1 forwards to stage 2: an attributed job and where it came from.

The origin `(partition key, source offset, output index)` is regenerated identically by any replay of the
events topic, so stage 2 can drop a re-forwarded job by comparing origins (docs/design.md, rule 3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpool.domain.delivery import Origin
from openpool.domain.jobs import AttributedJob


@dataclass(frozen=True, slots=True)
class ForwardedJob:
    origin: Origin
    job: AttributedJob

    def to_bytes(self) -> bytes:
        job = self.job
        return json.dumps(
            {
                "origin": [self.origin.offset, self.origin.index],
                "event_id": job.event_id,
                "partition_key": job.partition_key,
                "region": job.region,
                "node_type": job.node_type,
                "dt": job.dt.isoformat(),
                "worker_address": job.worker_address,
                "fees_wei": job.fees_wei,
                "compute_units": job.compute_units,
                "response_time_ns": job.response_time_ns,
                "duration_ms": job.duration_ms,
                "pipeline": job.pipeline,
                "model_id": job.model_id,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ForwardedJob:
        obj: dict[str, Any] = json.loads(data)
        offset, index = obj["origin"]
        return cls(
            origin=Origin(int(offset), int(index)),
            job=AttributedJob(
                event_id=obj["event_id"],
                partition_key=obj["partition_key"],
                region=obj["region"],
                node_type=obj["node_type"],
                dt=datetime.fromisoformat(obj["dt"]),
                worker_address=obj["worker_address"],
                fees_wei=int(obj["fees_wei"]),
                compute_units=int(obj["compute_units"]),
                response_time_ns=int(obj["response_time_ns"]),
                duration_ms=obj["duration_ms"],
                pipeline=obj["pipeline"],
                model_id=obj["model_id"],
            ),
        )
