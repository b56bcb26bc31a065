"""The event contract: what the pool's orchestrators write to S3, as typed values.

Envelope and payload fields are exactly those of the emitter (replaced-system.md §1-2). Units follow the
emitter: AI `responseTime` is nanoseconds, transcode `responseTime` and `duration` are milliseconds.
Amounts are integer wei. Addresses are EIP-55 checksummed here, once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal

from eth_utils.address import is_hex_address, to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

INT64_MAX = 2**63 - 1


class EventType(StrEnum):
    ORCHESTRATOR_RESET = "orchestrator-reset"
    GATEWAY_RESET = "gateway-reset"
    NODE_RESET = "node-reset"
    WORKER_CONNECTED = "worker-connected"
    WORKER_DISCONNECTED = "worker-disconnected"
    JOB_RECEIVED = "job-received"
    JOB_PROCESSED = "job-processed"
    TICKET_REDEEMED = "ticket-redeemed"


class NodeType(StrEnum):
    AI = "ai"
    TRANSCODE = "transcode"


@lru_cache(maxsize=65_536)
def _checksummed(value: str) -> str:
    """Cached: a pool has hundreds of worker addresses, and keccak per event dominated parsing."""
    if not value.startswith("0x") or not is_hex_address(value):
        raise PydanticCustomError("invalid_address", "not a 0x-prefixed 20-byte hex Ethereum address")
    checksummed = to_checksum_address(value)
    digits = value[2:]
    # Mixed case claims an EIP-55 checksum; a wrong one means the text was corrupted somewhere.
    if digits != digits.lower() and digits != digits.upper() and value != checksummed:
        raise PydanticCustomError("invalid_address", "EIP-55 checksum does not match")
    return checksummed


def _non_negative_fees(value: int) -> int:
    if value < 0:
        raise PydanticCustomError("negative_fees", "fees must not be negative")
    return value


Address = Annotated[str, AfterValidator(_checksummed)]
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Wei = Annotated[int, Field(le=INT64_MAX), AfterValidator(_non_negative_fees)]
Text = Annotated[str, Field(min_length=1, max_length=512)]


class _Payload(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore", populate_by_name=True)


class ResetPayload(_Payload):
    pass


class WorkerConnectionPayload(_Payload):
    eth_address: Address = Field(alias="ethAddress")
    connection: Text


class JobReceivedPayload(_Payload):
    eth_address: Address = Field(alias="ethAddress")
    request_id: Text = Field(alias="requestID")
    pipeline: Text
    model_id: Text = Field(alias="modelID")


class AIJobProcessedPayload(_Payload):
    request_id: Text = Field(alias="requestID")
    pipeline: Text
    model_id: Text = Field(alias="modelID")
    response_time_ns: Count = Field(alias="responseTime")
    compute_units: Count = Field(alias="computeUnits")
    price_per_compute_unit: Count = Field(alias="pricePerComputeUnit")
    fees: Wei


class TranscodeJobProcessedPayload(_Payload):
    eth_address: Address = Field(alias="ethAddress")
    compute_units: Count = Field(alias="computeUnits")
    price_per_compute_unit: Count = Field(alias="pricePerComputeUnit")
    fees: Wei
    response_time_ms: Count = Field(alias="responseTime")
    duration_ms: Count = Field(alias="duration")
    real_time_ratio: Count = Field(alias="realTimeRatio")


class TicketRedeemedPayload(_Payload):
    """Known but not used for money: the predecessor ignored it too (replaced-system.md §2.6)."""

    recipient: Address
    sender: Address
    face_value: Annotated[int, Field(ge=0)] = Field(alias="faceValue")
    win_prob: Annotated[int, Field(ge=0)] = Field(alias="winProb")
    price_per_pixel: Annotated[str, Field(max_length=200)] = Field(alias="pricePerPixel")
    creation_round: int = Field(alias="creationRound")
    tx_hash: Annotated[str, Field(max_length=66)] = Field(alias="txHash")


Payload = (
    ResetPayload
    | WorkerConnectionPayload
    | JobReceivedPayload
    | AIJobProcessedPayload
    | TranscodeJobProcessedPayload
    | TicketRedeemedPayload
)


class Event(BaseModel):
    """One envelope with its typed payload."""

    model_config = ConfigDict(frozen=True)

    id: str
    event_type: EventType
    version: Literal[1]
    node_type: str
    region: str
    dt: datetime
    payload: Payload

    @property
    def partition_key(self) -> str:
        return partition_key(self.region, self.node_type)

    @property
    def worker_address(self) -> str | None:
        """The worker the event names, if its payload carries one (AI job-processed does not)."""
        return getattr(self.payload, "eth_address", None)

    def to_envelope(self) -> dict[str, Any]:
        """The event in the emitter's JSON shape, with the normalised address and UTC `DT`."""
        return {
            "DT": self.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            if self.dt.microsecond == 0
            else self.dt.isoformat().replace("+00:00", "Z"),
            "EventType": self.event_type.value,
            "ID": self.id,
            "NodeType": self.node_type,
            "Payload": self.payload.model_dump(by_alias=True, mode="json"),
            "Region": self.region,
            "Version": self.version,
        }


def partition_key(region: str, node_type: str) -> str:
    """The Kafka key of every event: `region|node_type`, the order of the S3 prefix `region/node_type/`."""
    return f"{region}|{node_type}"


def split_partition_key(key: str) -> tuple[str, str]:
    region, _, node_type = key.partition("|")
    return region, node_type


def parse_dt(text: str) -> datetime:
    """RFC 3339 with an explicit zone (the emitter writes `Z`); naive times are refused."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("timestamp has no time zone")
    return value.astimezone(UTC)


def is_event_id(text: str) -> bool:
    try:
        canonical = str(uuid.UUID(text))
    except ValueError:
        return False
    return canonical == text.lower()
