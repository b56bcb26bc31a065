from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count

from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.connections import ConnectionState, Stamp, WorkerPresence, apply, presence
from openpool.domain.event_files import parse_event_object
from openpool.domain.events import Event, EventType, WorkerConnectionPayload
from tests.domain import envelopes

PROPERTY = settings(max_examples=200, deadline=None)
KEY = "us-central|transcode"
T0 = datetime(2025, 11, 5, 15, 20, tzinfo=UTC)
ALICE = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
BOB = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
FILE_A = "us-central/transcode/us-central-transcode-20251105T152000Z_20251105T152100Z.json"
FILE_B = "us-central/transcode/us-central-transcode-20251105T152030Z_20251105T152130Z.json"
_ids = count(1)


@dataclass(frozen=True)
class Read:
    """An event as the stream app gets it: with the file it came from and its position there."""

    event: Event
    source: str
    position: int

    @property
    def stamp(self) -> Stamp:
        return Stamp(self.event.dt, self.source, self.position, self.event.id)


def event(event_type: str, seconds: int, address: str | None = None, connection: str = "203.0.113.17:52344") -> Event:
    payload = {} if address is None else {"connection": connection, "ethAddress": address}
    document = envelopes.envelope(event_type, payload) | {
        "DT": (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ID": str(uuid.UUID(int=next(_ids))),
    }
    parsed = parse_event_object(document)
    assert isinstance(parsed, Event), parsed
    return parsed


def file(source: str, *events: Event) -> list[Read]:
    return [Read(e, source, position) for position, e in enumerate(events)]


def run(reads: Iterable[Read], state: ConnectionState | None = None) -> ConnectionState:
    state = state or ConnectionState()
    for read in reads:
        state = apply(state, read.event, read.source, read.position)
    return state


def view(state: ConnectionState) -> dict[str, dict[str, object]]:
    return {worker.eth_address: worker.to_json() for worker in presence(state, KEY)}


# --- examples ---


def test_a_connected_worker_is_active_and_a_disconnected_one_stays_listed_with_the_event_time_last_seen() -> None:
    connected = run(file(FILE_A, event("worker-connected", 3, ALICE)))
    disconnected = run(file(FILE_B, event("worker-disconnected", 45, ALICE)), state=connected)

    assert view(connected)[ALICE]["active"] is True
    assert view(disconnected) == {
        ALICE: {
            "eth_address": ALICE,
            "node_type": "transcode",
            "region": "us-central",
            "connections": [],
            "connection_count": 0,
            "active": False,
            "last_seen": "2025-11-05T15:20:45+00:00",
        }
    }


def test_a_worker_with_several_connections_stays_active_until_the_last_one_ends() -> None:
    state = run(
        file(
            FILE_A,
            event("worker-connected", 1, ALICE, "203.0.113.17:52344"),
            event("worker-connected", 2, ALICE, "[2001:db8::1]:52344"),
            event("worker-disconnected", 3, ALICE, "203.0.113.17:52344"),
        )
    )

    assert view(state)[ALICE]["connections"] == ["[2001:db8::1]:52344"]
    assert view(state)[ALICE]["connection_count"] == 1


def test_an_orchestrator_reset_ends_every_earlier_connection_but_keeps_the_workers_listed() -> None:
    state = run(
        file(
            FILE_A,
            event("worker-connected", 1, ALICE),
            event("worker-connected", 2, BOB),
            event("orchestrator-reset", 10),
        )
    )

    assert [(w.eth_address, w.active, w.last_seen) for w in presence(state, KEY)] == [
        (ALICE, False, T0 + timedelta(seconds=1)),
        (BOB, False, T0 + timedelta(seconds=2)),
    ]


def test_a_reconnect_in_the_same_second_as_a_reset_survives_when_the_file_puts_it_after_the_reset() -> None:
    state = run(
        file(
            FILE_A,
            event("worker-connected", 1, ALICE, "203.0.113.17:52344"),
            event("orchestrator-reset", 58),
            event("worker-connected", 58, ALICE, "203.0.113.17:52399"),
        )
    )

    assert view(state)[ALICE]["connections"] == ["203.0.113.17:52399"]


def test_a_connect_in_the_same_second_before_the_reset_in_file_order_is_ended_by_it() -> None:
    reads = file(FILE_A, event("worker-connected", 58, ALICE), event("orchestrator-reset", 58))

    assert view(run(reads))[ALICE]["active"] is False
    assert view(run(reversed(reads)))[ALICE]["active"] is False


def test_same_second_events_of_two_files_are_ordered_by_file_key_before_position() -> None:
    reset = file(FILE_A, event("worker-connected", 39, BOB), event("orchestrator-reset", 40))
    reconnect = file(FILE_B, event("worker-connected", 40, ALICE))

    assert view(run(reconnect + reset))[ALICE]["active"] is True


def test_a_disconnect_for_an_unknown_worker_lists_nobody() -> None:
    assert presence(run(file(FILE_A, event("worker-disconnected", 5, BOB))), KEY) == ()


def test_a_late_connect_older_than_an_applied_disconnect_does_not_revive_the_connection() -> None:
    disconnect = file(FILE_B, event("worker-disconnected", 50, ALICE))
    late_connect = file(FILE_A, event("worker-connected", 10, ALICE))

    late = run(disconnect + late_connect)

    assert late == run(late_connect + disconnect)
    assert view(late)[ALICE]["active"] is False
    assert view(late)[ALICE]["last_seen"] == "2025-11-05T15:20:50+00:00"


def test_a_late_reset_ends_only_the_connections_older_than_itself() -> None:
    state = run(
        file(FILE_B, event("worker-connected", 50, ALICE), event("worker-connected", 51, BOB, "198.51.100.42:40112"))
    )

    state = run(file(FILE_A, event("worker-connected", 5, BOB), event("orchestrator-reset", 20)), state=state)

    assert [(w.eth_address, w.connections) for w in presence(state, KEY)] == [
        (ALICE, ("203.0.113.17:52344",)),
        (BOB, ("198.51.100.42:40112",)),
    ]


def test_gateway_and_node_resets_leave_connections_alone() -> None:
    connected = run(file(FILE_A, event("worker-connected", 1, ALICE)))

    after = run(file(FILE_B, event("gateway-reset", 30), event("node-reset", 31)), state=connected)

    assert after == connected


def test_a_reset_forgets_the_connections_it_ended() -> None:
    churn = [event("worker-connected", s, ALICE, f"203.0.113.17:{50000 + s}") for s in range(20)]
    churn += [event("worker-disconnected", 20 + s, ALICE, f"203.0.113.17:{50000 + s}") for s in range(10)]

    state = run(file(FILE_A, *churn, event("orchestrator-reset", 40), event("worker-connected", 41, ALICE)))

    assert len(state.workers[ALICE].registers) == 1
    assert view(state)[ALICE]["connections"] == ["203.0.113.17:52344"]


# --- properties ---

ADDRESSES = st.sampled_from([ALICE, BOB, "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"])
CONNECTIONS = st.sampled_from(["203.0.113.17:52344", "203.0.113.17:52399", "unknown"])
SECONDS = st.integers(0, 6)
PARTITION_EVENTS = st.one_of(
    st.builds(event, st.sampled_from(["worker-connected", "worker-disconnected"]), SECONDS, ADDRESSES, CONNECTIONS),
    st.builds(event, st.sampled_from(["orchestrator-reset", "gateway-reset"]), SECONDS),
)


@st.composite
def partition_reads(draw: st.DrawFn) -> list[Read]:
    """A few files of a partition, with events crowded into a few seconds so that ties are common."""
    sources = [FILE_A, FILE_B, FILE_B.replace("152030Z", "152031Z")]
    return [read for source in sources for read in file(source, *draw(st.lists(PARTITION_EVENTS, max_size=8)))]


def replayed_in_order(reads: list[Read]) -> dict[str, WorkerPresence]:
    """The obvious model: every distinct event once, in (time, file, position) order, resets clearing all."""
    live: dict[str, set[str]] = {}
    last_seen: dict[str, datetime] = {}
    for read in sorted(set(reads), key=lambda read: read.stamp):
        payload = read.event.payload
        if read.event.event_type is EventType.ORCHESTRATOR_RESET:
            live = {address: set() for address in live}
        elif isinstance(payload, WorkerConnectionPayload):
            address = payload.eth_address
            last_seen[address] = max(last_seen.get(address, read.event.dt), read.event.dt)
            if read.event.event_type is EventType.WORKER_CONNECTED:
                live.setdefault(address, set()).add(payload.connection)
            elif address in live:
                live[address].discard(payload.connection)
    return {
        address: WorkerPresence(address, "transcode", "us-central", tuple(sorted(connections)), last_seen[address])
        for address, connections in live.items()
    }


@PROPERTY
@given(partition_reads().flatmap(lambda reads: st.tuples(st.just(reads), st.permutations(reads + reads[::2]))))
def test_any_arrival_order_with_any_duplicates_yields_the_in_order_result(
    reads_and_arrival: tuple[list[Read], list[Read]],
) -> None:
    reads, arrival = reads_and_arrival

    in_order = run(sorted(reads, key=lambda read: read.stamp))
    arrived = run(arrival)

    assert arrived == in_order
    assert {worker.eth_address: worker for worker in presence(arrived, KEY)} == replayed_in_order(reads)


@PROPERTY
@given(partition_reads().flatmap(st.permutations))
def test_the_state_round_trips_through_json_exactly(reads: list[Read]) -> None:
    state = run(reads)

    assert ConnectionState.from_json(json.loads(json.dumps(state.to_json()))) == state
