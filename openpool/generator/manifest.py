"""What a generated data set holds and what a correct pipeline must make of it.

Derived from what the generator decided (the emissions, the file bodies, the upload plan), never by parsing
its own output, so that tests can hold the contract's parser and the pipeline against it. Counts are per
distinct key, for the object the bucket holds once every upload is done: a repeated upload of the same bytes
adds no events, and the events of a flush whose key a later flush reused are gone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openpool.domain.events import EventType
from openpool.generator.config import GeneratorConfig
from openpool.generator.emitter import Body, Clock, EventFile
from openpool.generator.pool_model import Pool
from openpool.generator.upload_plan import Upload


@dataclass(frozen=True, slots=True)
class FileEntry:
    key: str
    partition: str
    body: Body
    first_dt: str
    last_dt: str
    size: int
    accepted: Mapping[str, int]
    """Events the contract accepts, by event type."""
    rejected: Mapping[str, int]
    """Elements the contract rejects, by reason (a truncated body is one `invalid_json`)."""
    dropped: int
    """Events the tracker dropped (a `null` body): nobody downstream sees them."""
    overwritten: int
    """Events of earlier flushes under the same key, which the final object replaced."""
    late: bool
    uploads: tuple[int, ...]
    """Positions in upload order."""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "partition": self.partition,
            "body": str(self.body),
            "first_dt": self.first_dt,
            "last_dt": self.last_dt,
            "size": self.size,
            "accepted": dict(sorted(self.accepted.items())),
            "rejected": dict(sorted(self.rejected.items())),
            "dropped": self.dropped,
            "overwritten": self.overwritten,
            "late": self.late,
            "uploads": list(self.uploads),
        }


@dataclass(frozen=True, slots=True)
class UnmatchedAIHalf:
    partition: str
    request_id: str
    event_type: str
    """The half that is there."""
    key: str
    cause: str
    """`partner_never_emitted` (an injected fault), `partner_in_broken_file` or `partner_overwritten`."""

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "request_id": self.request_id,
            "event_type": self.event_type,
            "key": self.key,
            "cause": self.cause,
        }


@dataclass(frozen=True, slots=True)
class Manifest:
    seed: int
    config: GeneratorConfig
    uploads: tuple[Upload, ...]
    files: tuple[FileEntry, ...]
    """Distinct keys, in key order."""
    unmatched_ai_halves: tuple[UnmatchedAIHalf, ...]
    fees_by_worker: Mapping[str, int]
    """Wei of every accepted job a correct correlation attributes to each worker address."""
    unattributed_fees: int
    """Wei of accepted AI job-processed events whose job-received never arrives."""
    workers: tuple[tuple[str, str, int], ...]
    """(address, partition, machines)"""

    @property
    def accepted_by_type(self) -> Counter[str]:
        return sum((Counter(entry.accepted) for entry in self.files), Counter())

    @property
    def rejections_by_reason(self) -> Counter[str]:
        return sum((Counter(entry.rejected) for entry in self.files), Counter())

    @property
    def accepted_events(self) -> int:
        return sum(self.accepted_by_type.values())

    @property
    def rejected_elements(self) -> int:
        return sum(self.rejections_by_reason.values())

    @property
    def late_files(self) -> tuple[str, ...]:
        return tuple(entry.key for entry in self.files if entry.late)

    @property
    def duplicated_files(self) -> tuple[str, ...]:
        return tuple(entry.key for entry in self.files if len(entry.uploads) > 1)

    @property
    def overwritten_files(self) -> tuple[str, ...]:
        return tuple(entry.key for entry in self.files if entry.overwritten)

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.files)

    def file(self, key: str) -> FileEntry:
        return next(entry for entry in self.files if entry.key == key)

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "config": self.config.to_json(),
            "totals": {
                "files": len(self.files),
                "uploads": len(self.uploads),
                "bytes": self.size,
                "accepted_events": self.accepted_events,
                "accepted_by_type": dict(sorted(self.accepted_by_type.items())),
                "rejected_elements": self.rejected_elements,
                "rejections_by_reason": dict(sorted(self.rejections_by_reason.items())),
                "fees_wei": sum(self.fees_by_worker.values()) + self.unattributed_fees,
            },
            "uploads": [
                {
                    "position": position,
                    "key": upload.key,
                    "at_seconds": round(upload.at, 3),
                    "late": upload.late,
                    "duplicate_of": upload.duplicate_of,
                    "overwrites": upload.overwrites,
                }
                for position, upload in enumerate(self.uploads)
            ],
            "late_files": list(self.late_files),
            "duplicated_files": list(self.duplicated_files),
            "overwritten_files": list(self.overwritten_files),
            "files": [entry.to_json() for entry in self.files],
            "unmatched_ai_halves": [half.to_json() for half in self.unmatched_ai_halves],
            "fees": {
                "attributed_wei_by_worker": dict(sorted(self.fees_by_worker.items())),
                "unattributed_wei": self.unattributed_fees,
            },
            "workers": [
                {"address": address, "partition": partition, "machines": machines}
                for address, partition, machines in self.workers
            ],
        }


def build_manifest(
    config: GeneratorConfig, seed: int, pool: Pool, files: Sequence[EventFile], uploads: Sequence[Upload]
) -> Manifest:
    clock = Clock(config.start)
    positions: dict[str, list[int]] = {}
    final: dict[str, int] = {}
    for position, upload in enumerate(uploads):
        positions.setdefault(upload.key, []).append(position)
        final[upload.key] = upload.file
    overwritten: Counter[str] = Counter()
    for index, file in enumerate(files):
        if final[file.key] != index:
            overwritten[file.key] += len(file.emissions)
    entries = tuple(
        _entry(
            files[index],
            clock,
            tuple(positions[key]),
            any(uploads[position].late for position in positions[key]),
            overwritten[key],
        )
        for key, index in sorted(final.items())
    )
    unmatched, by_worker, unattributed = _jobs(files, set(final.values()))
    return Manifest(
        seed=seed,
        config=config,
        uploads=tuple(uploads),
        files=entries,
        unmatched_ai_halves=unmatched,
        fees_by_worker=by_worker,
        unattributed_fees=unattributed,
        workers=tuple((worker.address, str(worker.partition), len(worker.hosts)) for worker in pool.workers),
    )


def _entry(file: EventFile, clock: Clock, uploads: tuple[int, ...], late: bool, overwritten: int) -> FileEntry:
    accepted: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    if file.body_kind is Body.EVENTS:
        for emission in file.emissions:
            if emission.rejection is None:
                accepted[emission.event_type] += 1
            else:
                rejected[emission.rejection] += 1
    elif file.body_kind is Body.TRUNCATED:
        rejected["invalid_json"] = 1
    return FileEntry(
        key=file.key,
        partition=str(file.partition),
        body=file.body_kind,
        first_dt=clock.dt(file.first_second),
        last_dt=clock.dt(file.last_second),
        size=len(file.body),
        accepted=dict(accepted),
        rejected=dict(rejected),
        dropped=len(file.emissions) if file.body_kind is Body.NULL else 0,
        overwritten=overwritten,
        late=late,
        uploads=uploads,
    )


@dataclass
class _Halves:
    received: dict[str, tuple[str, str]]
    """request ID → (worker address, key)"""
    processed: dict[str, tuple[int, str]]
    """request ID → (fees, key)"""


def _jobs(files: Sequence[EventFile], final: set[int]) -> tuple[tuple[UnmatchedAIHalf, ...], dict[str, int], int]:
    """AI pairing and fees per worker, as a correct pipeline sees them: only accepted events of final objects."""
    emitted_in: dict[tuple[str, str, str], int] = {}
    accepted: dict[str, _Halves] = {}
    by_worker: Counter[str] = Counter()
    for index, file in enumerate(files):
        partition = str(file.partition)
        halves = accepted.setdefault(partition, _Halves({}, {}))
        readable = index in final and file.body_kind is Body.EVENTS
        for emission in file.emissions:
            if emission.rejection is not None:
                continue
            payload = emission.payload
            if file.partition.is_ai and emission.event_type in (EventType.JOB_RECEIVED, EventType.JOB_PROCESSED):
                emitted_in[(partition, emission.event_type, payload["requestID"])] = index
                if not readable:
                    continue
                if emission.event_type == EventType.JOB_RECEIVED:
                    halves.received[payload["requestID"]] = (payload["ethAddress"], file.key)
                else:
                    halves.processed[payload["requestID"]] = (payload["fees"], file.key)
            elif emission.event_type == EventType.JOB_PROCESSED and readable:
                by_worker[payload["ethAddress"]] += payload["fees"]

    def cause(partition: str, partner: str, request_id: str) -> str:
        index = emitted_in.get((partition, partner, request_id))
        if index is None:
            return "partner_never_emitted"
        return "partner_in_broken_file" if index in final else "partner_overwritten"

    unmatched: list[UnmatchedAIHalf] = []
    unattributed = 0
    for partition, halves in sorted(accepted.items()):
        for request_id, (fees, key) in halves.processed.items():
            if request_id in halves.received:
                by_worker[halves.received[request_id][0]] += fees
                continue
            unattributed += fees
            why = cause(partition, EventType.JOB_RECEIVED, request_id)
            unmatched.append(UnmatchedAIHalf(partition, request_id, EventType.JOB_PROCESSED, key, why))
        for request_id, (_, key) in halves.received.items():
            if request_id not in halves.processed:
                why = cause(partition, EventType.JOB_PROCESSED, request_id)
                unmatched.append(UnmatchedAIHalf(partition, request_id, EventType.JOB_RECEIVED, key, why))
    unmatched.sort(key=lambda half: (half.partition, half.key, half.request_id, half.event_type))
    return tuple(unmatched), dict(by_worker), unattributed
