"""The record stage 1 forwards to stage 2: an attributed job and where it came from.

The origin `(partition key, source offset, output index)` is regenerated identically by any replay of the
events topic, so stage 2 can drop a re-forwarded job by comparing origins (docs/design.md, rule 3).

On the wire it is one compact JSON object with the field names below, written and read through msgspec (fees
may exceed 2^64). `from_bytes` takes msgspec's typed decode when `fast_path_safe` allows and the record has
exactly the shape `to_bytes` writes; any other record is read by the original `json` reader, so every record
already in the topic decodes to what it always did (and one it refused still raises what it raised, except
that nesting past MAX_NESTING is now a ValueError rather than a crash).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from openpool.domain.delivery import Origin
from openpool.domain.fast_json import fast_path_safe, loads_bounded
from openpool.domain.jobs import AttributedJob


class _WireJob(msgspec.Struct, gc=False):
    """The wire shape; field order is the order `to_bytes` has always written."""

    origin: tuple[int, int]
    event_id: str
    partition_key: str
    region: str
    node_type: str
    dt: str
    worker_address: str
    fees_wei: int
    compute_units: int
    response_time_ns: int
    duration_ms: int | None
    pipeline: str | None
    model_id: str | None


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(_WireJob)


@dataclass(frozen=True, slots=True)
class ForwardedJob:
    origin: Origin
    job: AttributedJob

    def to_bytes(self) -> bytes:
        job = self.job
        return _ENCODER.encode(
            _WireJob(
                origin=(self.origin.offset, self.origin.index),
                event_id=job.event_id,
                partition_key=job.partition_key,
                region=job.region,
                node_type=job.node_type,
                dt=job.dt.isoformat(),
                worker_address=job.worker_address,
                fees_wei=job.fees_wei,
                compute_units=job.compute_units,
                response_time_ns=job.response_time_ns,
                duration_ms=job.duration_ms,
                pipeline=job.pipeline,
                model_id=job.model_id,
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ForwardedJob:
        if type(data) is bytes and fast_path_safe(data):
            try:
                wire = _DECODER.decode(data)
            except msgspec.DecodeError:
                pass
            else:
                offset, index = wire.origin
                return cls(
                    origin=Origin(offset, index),
                    job=AttributedJob(
                        event_id=wire.event_id,
                        partition_key=wire.partition_key,
                        region=wire.region,
                        node_type=wire.node_type,
                        dt=datetime.fromisoformat(wire.dt),
                        worker_address=wire.worker_address,
                        fees_wei=wire.fees_wei,
                        compute_units=wire.compute_units,
                        response_time_ns=wire.response_time_ns,
                        duration_ms=wire.duration_ms,
                        pipeline=wire.pipeline,
                        model_id=wire.model_id,
                    ),
                )
        return cls._from_json(data)

    @classmethod
    def _from_json(cls, data: bytes) -> ForwardedJob:
        """The original reader: lenient about number types (`int()` of each), strict about nothing else."""
        obj: dict[str, Any] = loads_bounded(data)
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
