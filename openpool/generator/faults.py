"""The faults a real pool shows, injected at seeded rates, each with the outcome the contract must give.

- malformed events: one per contract rejection reason, cycled so that a handful of them covers every reason;
- broken files: a truncated upload (not JSON) or the tracker's `null` body (every event of the flush dropped);
- unmatched AI halves: a worker error leaves a `job-received` alone, a lost one leaves its `job-processed` alone.

Late and repeated uploads belong to the upload plan (`upload_plan`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from enum import StrEnum

from openpool.domain.events import EventType
from openpool.generator.emitter import Body, Emission, EventFile
from openpool.generator.payloads import (
    Payload,
    ai_job_processed,
    transcode_job_processed,
    worker_connection,
)
from openpool.generator.pool_model import AI_MODELS, LADDERS, REGIONS, SEGMENT_MS, Partition


class MalformedKind(StrEnum):
    NEGATIVE_FEES = "negative_fees"
    WRONG_TYPE = "wrong_type"
    INVALID_ADDRESS = "invalid_address"
    MISSING_FIELD = "missing_field"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    PARTITION_MISMATCH = "partition_mismatch"


UNKNOWN_EVENT_TYPE = "job-failed"


def malformed_event(kind: MalformedKind, at: float, partition: Partition, address: str, rng: random.Random) -> Emission:
    """A plausible event of `partition` that the contract must reject, carrying the reason it must give."""
    job = _job_processed(partition, address, rng)
    connection = worker_connection(address, f"203.0.113.{rng.randint(1, 254)}:{rng.randint(30000, 60999)}")
    match kind:
        case MalformedKind.NEGATIVE_FEES:
            # What an int64 overflow of price × units looks like once it reaches JSON.
            return Emission(at, EventType.JOB_PROCESSED, job | {"fees": -job["fees"]}, rejection="negative_fees")
        case MalformedKind.WRONG_TYPE:
            units = job | {"computeUnits": str(job["computeUnits"])}
            return Emission(at, EventType.JOB_PROCESSED, units, rejection="wrong_type:computeUnits")
        case MalformedKind.INVALID_ADDRESS:
            corrupted = connection | {"ethAddress": _break_checksum(address)}
            return Emission(at, EventType.WORKER_CONNECTED, corrupted, rejection="invalid_address")
        case MalformedKind.MISSING_FIELD:
            field = "requestID" if partition.is_ai else "ethAddress"
            missing = {name: value for name, value in job.items() if name != field}
            return Emission(at, EventType.JOB_PROCESSED, missing, rejection=f"missing_field:{field}")
        case MalformedKind.UNKNOWN_EVENT_TYPE:
            return Emission(at, UNKNOWN_EVENT_TYPE, {"ethAddress": address}, rejection="unknown_event_type")
        case MalformedKind.PARTITION_MISMATCH:
            elsewhere = rng.choice([region for region in REGIONS if region != partition.region])
            return Emission(
                at, EventType.WORKER_CONNECTED, connection, region=elsewhere, rejection="partition_mismatch"
            )


def with_malformed(
    emissions: Sequence[Emission], rate: float, rng: random.Random, partition: Partition, addresses: Sequence[str]
) -> list[Emission]:
    """`emissions` with, after each, a malformed event at probability `rate` (kinds in a seeded cycle)."""
    if rate == 0 or not addresses:
        return list(emissions)
    kinds = list(MalformedKind)
    rng.shuffle(kinds)
    written: list[Emission] = []
    for emission in emissions:
        written.append(emission)
        if rng.random() < rate:
            kind = kinds[0]
            kinds.append(kinds.pop(0))
            written.append(malformed_event(kind, emission.at, partition, rng.choice(addresses), rng))
    return written


def with_broken_bodies(files: Sequence[EventFile], rate: float, rng: random.Random) -> list[EventFile]:
    """Each file, at probability `rate`, with a truncated or `null` body instead (alternately)."""
    kinds = [Body.TRUNCATED, Body.NULL]
    rng.shuffle(kinds)
    written: list[EventFile] = []
    for file in files:
        if rate and rng.random() < rate:
            kind = kinds[0]
            kinds.reverse()
            body = b"null" if kind is Body.NULL else file.body[: rng.randrange(1, len(file.body))]
            file = replace(file, body=body, body_kind=kind)
        written.append(file)
    return written


class UnmatchedHalf(StrEnum):
    RECEIVED_ONLY = "received_only"
    """The worker returned an error: `job-received` is emitted, `job-processed` never is."""
    PROCESSED_ONLY = "processed_only"
    """The `job-received` was lost (or the job ran on the orchestrator's own runner)."""


def unmatched_half(rng: random.Random, rate: float) -> UnmatchedHalf | None:
    if rate == 0 or rng.random() >= rate:
        return None
    return rng.choice((UnmatchedHalf.RECEIVED_ONLY, UnmatchedHalf.PROCESSED_ONLY))


def _job_processed(partition: Partition, address: str, rng: random.Random) -> Payload:
    if partition.is_ai:
        model = AI_MODELS[0]
        return ai_job_processed(
            f"{rng.getrandbits(32):08x}",
            model.pipeline,
            model.model_id,
            model.median_response_ns,
            model.compute_units[0],
            model.price_per_unit_wei,
        )
    return transcode_job_processed(address, LADDERS[0][0], 1200, 812, SEGMENT_MS)


def _break_checksum(address: str) -> str:
    """The address with one letter's case flipped: a mixed-case text that fails its EIP-55 checksum."""
    digits = address[2:]
    for position, character in enumerate(digits):
        if character.isalpha():
            flipped = digits[:position] + character.swapcase() + digits[position + 1 :]
            if flipped not in (flipped.lower(), flipped.upper()):
                return "0x" + flipped
    return address[:-2]
