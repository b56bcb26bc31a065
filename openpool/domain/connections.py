"""Which workers of a partition are connected, independent of the order events arrive in.

Events are ordered by (event time, source file key, position in the file): `DT` has one-second precision,
so within a second the emitter's file order decides, never the event type (the predecessor sorted a reset
after same-second reconnects and wiped them). Each (worker, connection) is a last-writer-wins register in
that order, and a connection is live iff its last writer is a connect later than the latest
`orchestrator-reset`. A maximum is the same whatever order its inputs come in, so a late or repeated event
leaves the same state as in-order processing.

Registers older than the latest reset can never decide anything again, so a reset forgets them: the state
holds per worker only its connections since the last reset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from openpool.domain.events import Event, EventType, WorkerConnectionPayload, split_partition_key


@dataclass(frozen=True, slots=True, order=True)
class Stamp:
    """An event's place in the partition's order; the event id only separates two versions of one file."""

    dt: datetime
    source: str
    position: int
    event_id: str

    def to_json(self) -> list[Any]:
        return [self.dt.isoformat(), self.source, self.position, self.event_id]

    @classmethod
    def from_json(cls, data: list[Any]) -> Stamp:
        dt, source, position, event_id = data
        return cls(datetime.fromisoformat(dt), source, position, event_id)


@dataclass(frozen=True, slots=True)
class Register:
    """The last connect or disconnect of one connection."""

    connected: bool
    stamp: Stamp


@dataclass(frozen=True, slots=True)
class WorkerConnections:
    listed: bool
    """A connect was seen. A worker known only from disconnects stays out of the summary, as before."""
    last_seen: datetime
    """The event time of the latest event naming the worker."""
    registers: Mapping[str, Register]

    @property
    def live_connections(self) -> tuple[str, ...]:
        return tuple(sorted(connection for connection, register in self.registers.items() if register.connected))


_NO_REGISTERS: Mapping[str, Register] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ConnectionState:
    reset: Stamp | None = None
    """The latest orchestrator-reset; every register is later than it."""
    workers: Mapping[str, WorkerConnections] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self) -> dict[str, Any]:
        return {
            "reset": None if self.reset is None else self.reset.to_json(),
            "workers": {
                address: {
                    "listed": worker.listed,
                    "last_seen": worker.last_seen.isoformat(),
                    "registers": {
                        connection: {"connected": register.connected, "stamp": register.stamp.to_json()}
                        for connection, register in sorted(worker.registers.items())
                    },
                }
                for address, worker in sorted(self.workers.items())
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConnectionState:
        reset = data["reset"]
        return cls(
            reset=None if reset is None else Stamp.from_json(reset),
            workers=MappingProxyType(
                {
                    address: WorkerConnections(
                        listed=bool(worker["listed"]),
                        last_seen=datetime.fromisoformat(worker["last_seen"]),
                        registers=MappingProxyType(
                            {
                                connection: Register(bool(register["connected"]), Stamp.from_json(register["stamp"]))
                                for connection, register in worker["registers"].items()
                            }
                        ),
                    )
                    for address, worker in data["workers"].items()
                }
            ),
        )


def apply(state: ConnectionState, event: Event, source: str, position: int) -> ConnectionState:
    """Apply an event read at `position` of the S3 file `source`; events other than connects,
    disconnects and orchestrator-resets leave the state as it is (gateway and node resets included)."""
    stamp = Stamp(event.dt, source, position, event.id)
    if event.event_type is EventType.ORCHESTRATOR_RESET:
        return _reset(state, stamp)
    payload = event.payload
    if isinstance(payload, WorkerConnectionPayload):
        register = Register(connected=event.event_type is EventType.WORKER_CONNECTED, stamp=stamp)
        return _write(state, payload.eth_address, payload.connection, register)
    return state


def _reset(state: ConnectionState, stamp: Stamp) -> ConnectionState:
    if state.reset is not None and stamp <= state.reset:
        return state
    workers = {
        address: WorkerConnections(
            listed=worker.listed,
            last_seen=worker.last_seen,
            registers=MappingProxyType({c: r for c, r in worker.registers.items() if r.stamp > stamp}),
        )
        for address, worker in state.workers.items()
    }
    return ConnectionState(reset=stamp, workers=MappingProxyType(workers))


def _write(state: ConnectionState, address: str, connection: str, register: Register) -> ConnectionState:
    worker = state.workers.get(address)
    registers = _NO_REGISTERS if worker is None else worker.registers
    current = registers.get(connection)
    after_reset = state.reset is None or register.stamp > state.reset
    if after_reset and (current is None or register.stamp > current.stamp):
        registers = MappingProxyType({**registers, connection: register})
    updated = WorkerConnections(
        listed=register.connected or (worker is not None and worker.listed),
        last_seen=register.stamp.dt if worker is None else max(worker.last_seen, register.stamp.dt),
        registers=registers,
    )
    return ConnectionState(reset=state.reset, workers=MappingProxyType({**state.workers, address: updated}))


@dataclass(frozen=True, slots=True)
class WorkerPresence:
    """One worker's line in the summary export."""

    eth_address: str
    node_type: str
    region: str
    connections: tuple[str, ...]
    last_seen: datetime

    @property
    def active(self) -> bool:
        return bool(self.connections)

    def to_json(self) -> dict[str, Any]:
        """The predecessor's field names (replaced-system.md §4.4, §4.6); `last_seen` is event time."""
        return {
            "eth_address": self.eth_address,
            "node_type": self.node_type,
            "region": self.region,
            "connections": list(self.connections),
            "connection_count": len(self.connections),
            "active": self.active,
            "last_seen": self.last_seen.isoformat(),
        }


def presence(state: ConnectionState, partition_key: str) -> tuple[WorkerPresence, ...]:
    """Every worker ever connected in the partition, active or not, by address."""
    region, node_type = split_partition_key(partition_key)
    return tuple(
        WorkerPresence(
            eth_address=address,
            node_type=node_type,
            region=region,
            connections=worker.live_connections,
            last_seen=worker.last_seen,
        )
        for address, worker in sorted(state.workers.items())
        if worker.listed
    )
