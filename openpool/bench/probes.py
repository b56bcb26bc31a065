"""Latency probes: one job per event file, paid to an address used nowhere else, so its arrival is unmistakable.

A probe is appended at the end of its file (the file's last DT, so the key stays the same): a transcode
`job-processed`, or an AI `job-received` + `job-processed` pair with a request ID of its own. Payload values are
copied from a job of the same file, so the contract accepts the probe exactly as it accepts its neighbours.
The file is written back the way the emitter writes it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from openpool.domain.events import EventType


@dataclass(frozen=True, slots=True)
class Probe:
    key: str
    """The file it travels in."""
    address: str
    """The worker address whose earnings appear once the probe's fee is applied."""
    event_id: str
    """The ID of the probe's job-processed event (the bridge puts it in the record's `event_id` header)."""


def probe_address(tag: str, index: int) -> str:
    digest = hashlib.sha256(f"openpool-bench-probe/{tag}/{index}".encode()).hexdigest()
    return to_checksum_address("0x" + digest[:40])


def _probe_id(tag: str, index: int, part: str) -> str:
    return str(uuid.UUID(hashlib.sha256(f"{tag}/{index}/{part}".encode()).hexdigest()[:32], version=4))


def with_probe(key: str, body: bytes, tag: str, index: int) -> tuple[bytes, Probe | None]:
    """The file with its probe appended, or unchanged (and no probe) if it holds no job to copy."""
    try:
        envelopes = json.loads(body)
    except ValueError:
        return body, None
    if not isinstance(envelopes, list) or not envelopes:
        return body, None
    processed = _last(envelopes, EventType.JOB_PROCESSED)
    if processed is None:
        return body, None
    address = probe_address(tag, index)
    last_dt = max(str(envelope.get("DT", "")) for envelope in envelopes)
    job = _probe_envelope(processed, _probe_id(tag, index, "processed"), last_dt)
    added: list[dict[str, Any]]
    if "requestID" in job["Payload"]:
        received = _last(envelopes, EventType.JOB_RECEIVED)
        if received is None:
            return body, None
        request = _probe_envelope(received, _probe_id(tag, index, "received"), last_dt)
        request_id = f"probe-{tag}-{index}"
        request["Payload"].update(ethAddress=address, requestID=request_id)
        job["Payload"]["requestID"] = request_id
        added = [request, job]
    else:
        job["Payload"]["ethAddress"] = address
        added = [job]
    rendered = json.dumps([*envelopes, *added], indent=2, sort_keys=True).encode()
    return rendered, Probe(key, address, job["ID"])


def with_probes(files: Sequence[tuple[str, bytes]], tag: str) -> tuple[list[tuple[str, bytes]], list[Probe]]:
    probed: list[tuple[str, bytes]] = []
    probes: list[Probe] = []
    for index, (key, body) in enumerate(files):
        new_body, probe = with_probe(key, body, tag, index)
        probed.append((key, new_body))
        if probe is not None:
            probes.append(probe)
    return probed, probes


def _last(envelopes: list[Any], event_type: str) -> dict[str, Any] | None:
    for envelope in reversed(envelopes):
        if (
            isinstance(envelope, dict)
            and envelope.get("EventType") == event_type
            and isinstance(envelope.get("Payload"), dict)
        ):
            return envelope
    return None


def _probe_envelope(template: dict[str, Any], event_id: str, dt: str) -> dict[str, Any]:
    envelope = copy.deepcopy(template)
    envelope.update(ID=event_id, DT=dt)
    return envelope
