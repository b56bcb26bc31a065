"""Connections behave like an orchestrator's: registrations after each (re)start, churn, and jobs only from
connected workers."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from openpool.domain.events import EventType, TranscodeJobProcessedPayload, WorkerConnectionPayload
from openpool.generator import GeneratedDataSet
from tests.generator.parsed import events_by_partition

REGISTERED_WITHIN = timedelta(seconds=16)


def test_a_disconnect_names_a_live_connection_and_jobs_come_from_connected_workers(clean: GeneratedDataSet) -> None:
    for partition, stream in events_by_partition(clean).items():
        live: set[tuple[str, str]] = set()
        for _, event in stream:
            payload = event.payload
            if event.event_type is EventType.ORCHESTRATOR_RESET:
                live.clear()
            elif event.event_type is EventType.WORKER_CONNECTED:
                assert isinstance(payload, WorkerConnectionPayload)
                assert (payload.eth_address, payload.connection) not in live, partition
                live.add((payload.eth_address, payload.connection))
            elif event.event_type is EventType.WORKER_DISCONNECTED:
                assert isinstance(payload, WorkerConnectionPayload)
                live.remove((payload.eth_address, payload.connection))
            elif isinstance(payload, TranscodeJobProcessedPayload):
                assert any(address == payload.eth_address for address, _ in live), partition


def test_every_machine_of_every_worker_registers_after_each_restart(clean: GeneratedDataSet) -> None:
    restarts = 0
    for partition, stream in events_by_partition(clean).items():
        machines = {address: count for address, home, count in clean.manifest.workers if home == partition}
        resets = [index for index, (_, event) in enumerate(stream) if event.event_type is EventType.ORCHESTRATOR_RESET]
        for start, end in zip(resets, [*resets[1:], len(stream)], strict=True):
            if stream[end - 1][1].dt - stream[start][1].dt <= REGISTERED_WITHIN:
                continue  # the next restart, or the end, came before every machine could register
            registered = Counter(
                event.payload.eth_address
                for _, event in stream[start:end]
                if event.event_type is EventType.WORKER_CONNECTED and isinstance(event.payload, WorkerConnectionPayload)
            )
            assert registered.keys() == machines.keys()
            assert all(registered[address] >= count for address, count in machines.items())
            restarts += 1
    assert restarts > len(clean.config.partitions)


def test_connections_are_ip_and_port_and_some_workers_run_several_machines(clean: GeneratedDataSet) -> None:
    connections = {
        event.payload.connection
        for stream in events_by_partition(clean).values()
        for _, event in stream
        if isinstance(event.payload, WorkerConnectionPayload)
    }
    for connection in connections:
        host, _, port = connection.rpartition(":")
        assert host and 30000 <= int(port) <= 60999
    assert any(machines > 1 for _, _, machines in clean.manifest.workers)
    assert (
        sum(
            event.event_type is EventType.WORKER_DISCONNECTED
            for stream in events_by_partition(clean).values()
            for _, event in stream
        )
        > 5
    )
