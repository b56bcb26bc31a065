"""Reading one S3 event file into typed events and typed rejections. Nothing raises out of here.

A file is a JSON array of envelopes (or the literal `null` when every event of a flush was malformed).
Every element becomes either an accepted event or a rejection with a machine-readable reason, so that
accepted + rejected always equals the number of elements (a file that is not an array counts as one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from openpool.domain.events import (
    AIJobProcessedPayload,
    Event,
    EventType,
    JobReceivedPayload,
    NodeType,
    ResetPayload,
    TicketRedeemedPayload,
    TranscodeJobProcessedPayload,
    WorkerConnectionPayload,
    is_event_id,
    parse_dt,
)

_FILE_NAME = re.compile(r"(?P<stamp_start>[0-9]{8}T[0-9]{6}Z)_(?P<stamp_end>[0-9]{8}T[0-9]{6}Z)\.json")
# One pass: possessive quantifiers never backtrack, and an unterminated string runs to the end of the input,
# so the search never restarts at each later quote (which made `"\"\"\"…` quadratic).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.?)*+(?:"|$)')
_BRACKET = re.compile(rb"[\[\]{}]")
# Emitter files nest three deep. A deeper element is still parsed and rejected on its own; only nesting past
# what CPython's default recursion limit allows makes the whole file unreadable.
MAX_NESTING = 1000
_STAMP = "%Y%m%dT%H%M%SZ"

_PayloadModel = type[
    ResetPayload
    | WorkerConnectionPayload
    | JobReceivedPayload
    | AIJobProcessedPayload
    | TranscodeJobProcessedPayload
    | TicketRedeemedPayload
]
_PAYLOAD_BY_TYPE: dict[EventType, _PayloadModel] = {
    EventType.ORCHESTRATOR_RESET: ResetPayload,
    EventType.GATEWAY_RESET: ResetPayload,
    EventType.NODE_RESET: ResetPayload,
    EventType.WORKER_CONNECTED: WorkerConnectionPayload,
    EventType.WORKER_DISCONNECTED: WorkerConnectionPayload,
    EventType.JOB_RECEIVED: JobReceivedPayload,
    EventType.TICKET_REDEEMED: TicketRedeemedPayload,
}
_JOB_PROCESSED_BY_NODE_TYPE: dict[str, _PayloadModel] = {
    NodeType.AI: AIJobProcessedPayload,
    NodeType.TRANSCODE: TranscodeJobProcessedPayload,
}
_WRONG_TYPE_ERRORS = {
    "int_type",
    "int_parsing",
    "int_from_float",
    "string_type",
    "dict_type",
    "model_type",
    "bool_type",
}


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one element (or, with `position=None`, a whole file) was not accepted."""

    reason: str
    detail: str
    position: int | None
    raw: bytes


@dataclass(frozen=True, slots=True)
class SourceKey:
    """An S3 key of the emitter's layout: `{region}/{node_type}/{region}-{node_type}-{start}_{end}.json`."""

    key: str
    region: str
    node_type: str
    start: datetime
    end: datetime

    @property
    def prefix(self) -> str:
        return f"{self.region}/{self.node_type}/"

    @classmethod
    def parse(cls, key: str) -> SourceKey | None:
        parts = key.split("/")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            return None
        region, node_type, name = parts
        head = f"{region}-{node_type}-"
        if not name.startswith(head):
            return None
        match = _FILE_NAME.fullmatch(name[len(head) :])
        if match is None:
            return None
        try:
            start = datetime.strptime(match["stamp_start"], _STAMP).replace(tzinfo=UTC)
            end = datetime.strptime(match["stamp_end"], _STAMP).replace(tzinfo=UTC)
        except ValueError:
            return None
        return cls(key=key, region=region, node_type=node_type, start=start, end=end)


@dataclass(frozen=True, slots=True)
class PositionedEvent:
    position: int
    event: Event


@dataclass(frozen=True, slots=True)
class ParsedFile:
    events: tuple[PositionedEvent, ...]
    rejections: tuple[Rejection, ...]

    @property
    def element_count(self) -> int:
        return len(self.events) + len(self.rejections)


# The emitter stamps DT with its own clock at emit time; an event more than this ahead of the reader's clock
# comes from a broken clock. Kafka refuses such record timestamps, and its DT would push correlation's
# event-time watermark forward and expire every pending AI half.
FUTURE_TOLERANCE = timedelta(hours=1)


def parse_event_file(source: SourceKey, body: bytes, *, now: datetime | None = None) -> ParsedFile:
    """With `now`, events dated more than FUTURE_TOLERANCE after it are rejected as `future_timestamp`."""
    try:
        document = loads_bounded(body)
    except (ValueError, RecursionError) as error:
        detail = str(error)[:200] if not isinstance(error, RecursionError) else "nesting too deep"
        return ParsedFile((), (Rejection("invalid_json", detail, None, body),))
    if document is None:
        return ParsedFile((), ())
    if not isinstance(document, list):
        return ParsedFile((), (Rejection("not_an_array", type(document).__name__, None, body),))
    events: list[PositionedEvent] = []
    rejections: list[Rejection] = []
    for position, element in enumerate(document):
        outcome = parse_event_object(
            element, position=position, region=source.region, node_type=source.node_type, now=now
        )
        if isinstance(outcome, Event):
            events.append(PositionedEvent(position, outcome))
        else:
            rejections.append(outcome)
    return ParsedFile(tuple(events), tuple(rejections))


def parse_event_object(
    element: object,
    *,
    position: int | None = None,
    region: str | None = None,
    node_type: str | None = None,
    now: datetime | None = None,
) -> Event | Rejection:
    """One envelope; with `region`/`node_type` given, an envelope of another partition is rejected."""
    try:
        return _parse(element, region, node_type, now)
    except _Rejected as rejected:
        return Rejection(rejected.reason, rejected.detail, position, _raw(element))


def loads_bounded(body: bytes | str) -> Any:
    """`json.loads`, refusing nesting deeper than MAX_NESTING first.

    The parser recurses per level, bounded only by the recursion limit, which web3's dependencies raise to
    100000 on import: past what the C stack holds, so a deep enough body would crash the process.
    """
    data = body.encode() if isinstance(body, str) else body
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", data)):
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > MAX_NESTING:
                raise ValueError(f"nesting deeper than {MAX_NESTING} levels")
        else:
            depth -= 1
    return json.loads(data)


class _Rejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _parse(element: object, region: str | None, node_type: str | None, now: datetime | None) -> Event:
    if not isinstance(element, Mapping):
        raise _Rejected("not_an_object", type(element).__name__)
    event_id = _required_text(element, "ID")
    if not is_event_id(event_id):
        raise _Rejected("invalid_id", "ID is not a UUID")
    type_text = _required_text(element, "EventType")
    try:
        event_type = EventType(type_text)
    except ValueError:
        raise _Rejected("unknown_event_type", type_text[:100]) from None
    version = element.get("Version")
    if version is None:
        raise _Rejected("missing_field:Version", "")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _Rejected("wrong_type:Version", type(version).__name__)
    if version != 1:
        raise _Rejected("unsupported_version", str(version)[:20])
    event_node_type = _required_text(element, "NodeType")
    event_region = _required_text(element, "Region")
    if (region is not None and event_region != region) or (node_type is not None and event_node_type != node_type):
        raise _Rejected("partition_mismatch", f"{event_region}/{event_node_type} in file of {region}/{node_type}")
    try:
        dt = parse_dt(_required_text(element, "DT"))
    except (ValueError, OverflowError) as error:
        raise _Rejected("invalid_timestamp", str(error)[:100]) from None
    if now is not None and dt > now + FUTURE_TOLERANCE:
        raise _Rejected("future_timestamp", f"{dt.isoformat()} is more than {FUTURE_TOLERANCE} after {now.isoformat()}")
    payload_obj = element.get("Payload")
    if payload_obj is None:
        raise _Rejected("missing_field:Payload", "")
    if not isinstance(payload_obj, Mapping):
        raise _Rejected("wrong_type:Payload", type(payload_obj).__name__)
    if event_type is EventType.JOB_PROCESSED:
        payload_model = _JOB_PROCESSED_BY_NODE_TYPE.get(event_node_type)
        if payload_model is None:
            raise _Rejected("unknown_node_type", event_node_type[:100])
    else:
        payload_model = _PAYLOAD_BY_TYPE[event_type]
    try:
        payload = payload_model.model_validate(dict(payload_obj))
    except ValidationError as error:
        raise _payload_rejection(error) from None
    return Event.model_construct(
        id=event_id,
        event_type=event_type,
        version=1,
        node_type=event_node_type,
        region=event_region,
        dt=dt,
        payload=payload,
    )


def _required_text(element: Mapping[str, Any], name: str) -> str:
    value = element.get(name)
    if value is None:
        raise _Rejected(f"missing_field:{name}", "")
    if not isinstance(value, str):
        raise _Rejected(f"wrong_type:{name}", type(value).__name__)
    if not value:
        raise _Rejected(f"empty_field:{name}", "")
    return value


def _payload_rejection(error: ValidationError) -> _Rejected:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "Payload"
    kind = first["type"]
    if kind == "missing":
        return _Rejected(f"missing_field:{field}", "")
    if kind in ("invalid_address", "negative_fees"):
        return _Rejected(kind, f"{field}: {first['msg']}")
    if kind in _WRONG_TYPE_ERRORS:
        return _Rejected(f"wrong_type:{field}", first["msg"][:100])
    if kind == "string_too_short":
        return _Rejected(f"empty_field:{field}", "")
    return _Rejected(f"out_of_range:{field}", first["msg"][:100])


def _raw(element: object) -> bytes:
    try:
        return json.dumps(element, separators=(",", ":"), sort_keys=True).encode()
    except (TypeError, ValueError, RecursionError):
        return repr(element)[:10_000].encode()
