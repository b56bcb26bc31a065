"""Reading one S3 event file into typed events and typed rejections. Nothing raises out of here.

A file is a JSON array of envelopes (or the literal `null` when every event of a flush was malformed).
Every element becomes either an accepted event or a rejection with a machine-readable reason, so that
accepted + rejected always equals the number of elements (a file that is not an array counts as one).

One record of the events topic (one envelope) is read by `decode_event_record`: a msgspec fast path that
falls back to the same strict checks on anything it is not sure of.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from pydantic import BaseModel, ValidationError

from openpool.domain.events import (
    INT64_MAX,
    AIJobProcessedPayload,
    Event,
    EventType,
    JobReceivedPayload,
    NodeType,
    Payload,
    ResetPayload,
    TicketRedeemedPayload,
    TranscodeJobProcessedPayload,
    WorkerConnectionPayload,
    _checksummed,
    is_event_id,
    parse_dt,
)
from openpool.domain.fast_json import MAX_NESTING as MAX_NESTING
from openpool.domain.fast_json import fast_path_safe
from openpool.domain.fast_json import loads_bounded as loads_bounded

_FILE_NAME = re.compile(r"(?P<stamp_start>[0-9]{8}T[0-9]{6}Z)_(?P<stamp_end>[0-9]{8}T[0-9]{6}Z)\.json")
_STAMP = "%Y%m%dT%H%M%SZ"

_PayloadModel = type[
    ResetPayload
    | WorkerConnectionPayload
    | JobReceivedPayload
    | AIJobProcessedPayload
    | TranscodeJobProcessedPayload
    | TicketRedeemedPayload
]
_Model = TypeVar("_Model", bound=BaseModel)
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


def decode_event_record(value: bytes | None) -> Event | Rejection:
    """One record value of the events topic: what `decode_event_record_strict` gives, mostly without its cost.

    msgspec decodes the envelope and its payload into typed structs that mirror the pydantic models field for
    field, and the event is then assembled without validating again. Anything the fast path is not sure of
    (a body `fast_path_safe` refuses, any msgspec error, a check that fails) goes to the strict path, so every
    rejection, its reason and its detail are the strict path's, and an accepted event equals the strict one.
    """
    if type(value) is bytes:
        event = _decode_fast(value)
        if event is not None:
            return event
    return decode_event_record_strict(value)


def decode_event_record_strict(value: bytes | None) -> Event | Rejection:
    """One record value of the events topic through `json.loads` and `parse_event_object`: the reference."""
    if value is None:
        return Rejection("missing_value", "record without a value", None, b"")
    try:
        obj = loads_bounded(value)
    except (ValueError, RecursionError) as error:
        return Rejection("invalid_json", str(error)[:200], None, value)
    return parse_event_object(obj)


# --- the fast path: msgspec twins of the envelope and the payload models (events.py) ---
# Each struct has the pydantic model's field names, its aliases as wire names and its constraints; msgspec
# is strict like the models (no str -> int, no float or bool for an int) and ignores unknown fields like them.

_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
_Wei = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
_NonNegative = Annotated[int, msgspec.Meta(ge=0)]
_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class _WireEnvelope(msgspec.Struct, gc=False):
    id: str = msgspec.field(name="ID")
    event_type: str = msgspec.field(name="EventType")
    version: Literal[1] = msgspec.field(name="Version")
    node_type: _NonEmpty = msgspec.field(name="NodeType")
    region: _NonEmpty = msgspec.field(name="Region")
    dt: str = msgspec.field(name="DT")
    payload: msgspec.Raw = msgspec.field(name="Payload")


class _WireReset(msgspec.Struct, gc=False):
    pass


class _WireWorkerConnection(msgspec.Struct, gc=False):
    eth_address: str = msgspec.field(name="ethAddress")
    connection: _Text


class _WireJobReceived(msgspec.Struct, gc=False):
    eth_address: str = msgspec.field(name="ethAddress")
    request_id: _Text = msgspec.field(name="requestID")
    pipeline: _Text
    model_id: _Text = msgspec.field(name="modelID")


class _WireAIJobProcessed(msgspec.Struct, gc=False):
    request_id: _Text = msgspec.field(name="requestID")
    pipeline: _Text
    model_id: _Text = msgspec.field(name="modelID")
    response_time_ns: _Count = msgspec.field(name="responseTime")
    compute_units: _Count = msgspec.field(name="computeUnits")
    price_per_compute_unit: _Count = msgspec.field(name="pricePerComputeUnit")
    fees: _Wei


class _WireTranscodeJobProcessed(msgspec.Struct, gc=False):
    eth_address: str = msgspec.field(name="ethAddress")
    compute_units: _Count = msgspec.field(name="computeUnits")
    price_per_compute_unit: _Count = msgspec.field(name="pricePerComputeUnit")
    fees: _Wei
    response_time_ms: _Count = msgspec.field(name="responseTime")
    duration_ms: _Count = msgspec.field(name="duration")
    real_time_ratio: _Count = msgspec.field(name="realTimeRatio")


class _WireTicketRedeemed(msgspec.Struct, gc=False):
    recipient: str
    sender: str
    face_value: _NonNegative = msgspec.field(name="faceValue")
    win_prob: _NonNegative = msgspec.field(name="winProb")
    price_per_pixel: Annotated[str, msgspec.Meta(max_length=200)] = msgspec.field(name="pricePerPixel")
    creation_round: int = msgspec.field(name="creationRound")
    tx_hash: Annotated[str, msgspec.Meta(max_length=66)] = msgspec.field(name="txHash")


@dataclass(frozen=True, slots=True)
class _WirePayload:
    decoder: msgspec.json.Decoder[Any]
    addresses: tuple[str, ...]
    """Fields checked and checksummed by `_checksummed`, as the models' `Address` type does."""


def _wire(struct: type[msgspec.Struct], *addresses: str) -> _WirePayload:
    return _WirePayload(msgspec.json.Decoder(struct), addresses)


_WIRE_PAYLOADS: dict[_PayloadModel, _WirePayload] = {
    ResetPayload: _wire(_WireReset),
    WorkerConnectionPayload: _wire(_WireWorkerConnection, "eth_address"),
    JobReceivedPayload: _wire(_WireJobReceived, "eth_address"),
    AIJobProcessedPayload: _wire(_WireAIJobProcessed),
    TranscodeJobProcessedPayload: _wire(_WireTranscodeJobProcessed, "eth_address"),
    TicketRedeemedPayload: _wire(_WireTicketRedeemed, "recipient", "sender"),
}
_ENVELOPE_DECODER = msgspec.json.Decoder(_WireEnvelope)
# An emitter stamps DT to the second, so a busy partition repeats it; datetimes are immutable, errors not cached.
_parse_dt_cached = lru_cache(maxsize=4096)(parse_dt)
_EVENT_TYPES = {event_type.value: event_type for event_type in EventType}
# Exactly the texts `is_event_id` accepts in canonical form; any other (braces, no hyphens) takes the strict path.
_CANONICAL_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _decode_fast(value: bytes) -> Event | None:
    """The accepted event, or None when the strict path must decide (it may still accept)."""
    if not fast_path_safe(value):
        return None
    try:
        wire = _ENVELOPE_DECODER.decode(value)
        event_type = _EVENT_TYPES.get(wire.event_type)
        if event_type is None or _CANONICAL_ID.fullmatch(wire.id) is None:
            return None
        model = (
            _JOB_PROCESSED_BY_NODE_TYPE.get(wire.node_type)
            if event_type is EventType.JOB_PROCESSED
            else _PAYLOAD_BY_TYPE[event_type]
        )
        if model is None:
            return None
        payload_wire = _WIRE_PAYLOADS[model]
        fields = msgspec.structs.asdict(payload_wire.decoder.decode(wire.payload))
        for name in payload_wire.addresses:
            fields[name] = _checksummed(fields[name])
        payload = _CONSTRUCT[model](fields)
        dt = _parse_dt_cached(wire.dt)
    except Exception:  # any doubt: the strict path gives the answer, and the reason if it is a rejection
        return None
    return _construct_event(
        {
            "id": wire.id,
            "event_type": event_type,
            "version": 1,
            "node_type": wire.node_type,
            "region": wire.region,
            "dt": dt,
            "payload": payload,
        }
    )


def _constructor(model: type[_Model]) -> Callable[[dict[str, Any]], _Model]:
    """`model.model_construct(**values)` for `values` holding every field by name, in field order; cheaper.

    model_construct spends a loop over the fields looking up aliases and defaults (11 µs of the 25 µs a
    transcode event took); with every field given by name, what it builds is the instance with `values` as
    its `__dict__`, every field set, no extra and no private attributes. That is what this sets, for models
    where model_construct does nothing more (tests/domain/test_event_records.py compares the two).
    """
    if model.__pydantic_root_model__ or model.__pydantic_post_init__ or model.model_config.get("extra") == "allow":
        return lambda values: model.model_construct(**values)
    new = model.__new__
    set_slot = object.__setattr__

    def construct(values: dict[str, Any]) -> _Model:
        instance = new(model)
        set_slot(instance, "__dict__", values)
        set_slot(instance, "__pydantic_fields_set__", set(values))
        set_slot(instance, "__pydantic_extra__", None)
        set_slot(instance, "__pydantic_private__", None)
        return instance

    return construct


_CONSTRUCT: dict[_PayloadModel, Callable[[dict[str, Any]], Payload]] = {
    model: _constructor(model) for model in _WIRE_PAYLOADS
}
_construct_event = _constructor(Event)


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
