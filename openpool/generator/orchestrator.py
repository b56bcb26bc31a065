"""What one orchestrator (one partition) emits over the data set's duration, in emit order.

A discrete-event simulation: the process starts (and restarts) with `orchestrator-reset`, its workers'
machines register a few seconds later and drop and reconnect at the churn rate, and jobs arrive as a
Poisson process, each finished by a connected worker picked by capacity. Times are seconds after the data
set's start; nothing is scheduled at or past its end.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from openpool.domain.events import EventType
from openpool.generator.emitter import Emission
from openpool.generator.faults import UnmatchedHalf, unmatched_half
from openpool.generator.payloads import (
    ai_job_processed,
    ai_job_received,
    transcode_job_processed,
    worker_connection,
)
from openpool.generator.pool_model import LADDERS, SEGMENT_MS, Broadcaster, Gateway, Partition, Worker

TRANSCODE_MEDIAN_RESPONSE_MS = 900
RESPONSE_TIME_RACE_SHARE = 0.02
"""Share of transcode jobs whose responseTime the emitter read before it was set (§2.5): 0."""
MIN_SECONDS_BETWEEN_RESETS = 30.0
REGISTER_DELAY_SECONDS = (1.0, 15.0)
RECONNECT_DELAY_SECONDS = (2.0, 30.0)
AI_PROCESSED_DELAY_SECONDS = (0.0, 1.5)


@dataclass(frozen=True, slots=True)
class Load:
    duration_seconds: float
    jobs_per_second: float
    churn_per_hour: float
    resets_per_hour: float
    unmatched_rate: float


@dataclass(frozen=True, slots=True)
class Customers:
    broadcasters: Sequence[Broadcaster]
    gateways: Sequence[Gateway]


def simulate(
    partition: Partition, workers: Sequence[Worker], customers: Customers, load: Load, rng: random.Random
) -> list[Emission]:
    return _Orchestrator(partition, workers, customers, load, rng).run()


_Connection = tuple[int, int]
"""(worker position, machine position)"""


class _Orchestrator:
    def __init__(
        self, partition: Partition, workers: Sequence[Worker], customers: Customers, load: Load, rng: random.Random
    ) -> None:
        self.partition = partition
        self.workers = workers
        self.customers = customers
        self.load = load
        self.rng = rng
        self.emitted: list[Emission] = []
        self._queue: list[tuple[float, int, Callable[[float], None]]] = []
        self._order = itertools.count()
        self._epoch = 0
        self._live: dict[_Connection, str] = {}
        self._pick: tuple[list[_Connection], list[float]] | None = None
        self._request_ids: set[str] = set()
        self._broadcaster_weights = list(itertools.accumulate(b.weight for b in customers.broadcasters))
        self._gateway_weights = list(itertools.accumulate(g.weight for g in customers.gateways))
        self._ladder_weights = list(itertools.accumulate(weight for _, weight in LADDERS))

    def run(self) -> list[Emission]:
        first_start = self.rng.uniform(0.0, min(3.0, self.load.duration_seconds / 10))
        self._schedule(first_start, self._restart)
        for restart in self._restart_times(first_start):
            self._schedule(restart, self._restart)
        if self.load.jobs_per_second > 0:
            self._schedule(first_start + self.rng.expovariate(self.load.jobs_per_second), self._job)
        while self._queue:
            at, _, action = heapq.heappop(self._queue)
            action(at)
        return self.emitted

    def _schedule(self, at: float, action: Callable[[float], None]) -> None:
        if at < self.load.duration_seconds:
            heapq.heappush(self._queue, (at, next(self._order), action))

    def _emit(self, at: float, event_type: str, payload: dict[str, object]) -> None:
        self.emitted.append(Emission(at, event_type, payload))

    def _restart_times(self, first_start: float) -> list[float]:
        per_second = self.load.resets_per_hour / 3600
        if per_second <= 0:
            return []
        times: list[float] = []
        at = last = first_start
        while True:
            at += self.rng.expovariate(per_second)
            if at >= self.load.duration_seconds:
                return times
            # A restart takes a while; two within seconds would be one restart seen twice.
            if at - last >= MIN_SECONDS_BETWEEN_RESETS:
                times.append(at)
                last = at

    def _restart(self, at: float) -> None:
        """A new process: every connection of the old one is gone without a disconnect event."""
        self._epoch += 1
        self._live.clear()
        self._pick = None
        self._emit(at, EventType.ORCHESTRATOR_RESET, {})
        for position, worker in enumerate(self.workers):
            for machine in range(len(worker.hosts)):
                delay = self.rng.uniform(*REGISTER_DELAY_SECONDS)
                self._schedule(at + delay, partial(self._connect, (position, machine), self._epoch))

    def _connect(self, connection: _Connection, epoch: int, at: float) -> None:
        if epoch != self._epoch:
            return
        position, machine = connection
        worker = self.workers[position]
        address = f"{worker.hosts[machine]}:{self.rng.randint(30000, 60999)}"
        self._live[connection] = address
        self._pick = None
        self._emit(at, EventType.WORKER_CONNECTED, worker_connection(worker.address, address))
        if self.load.churn_per_hour / 3600 > 0:
            lasts = self.rng.expovariate(self.load.churn_per_hour / 3600)
            self._schedule(at + lasts, partial(self._disconnect, connection, epoch))

    def _disconnect(self, connection: _Connection, epoch: int, at: float) -> None:
        if epoch != self._epoch:
            return
        address = self._live.pop(connection)
        self._pick = None
        self._emit(at, EventType.WORKER_DISCONNECTED, worker_connection(self.workers[connection[0]].address, address))
        self._schedule(at + self.rng.uniform(*RECONNECT_DELAY_SECONDS), partial(self._connect, connection, epoch))

    def _job(self, at: float) -> None:
        self._schedule(at + self.rng.expovariate(self.load.jobs_per_second), self._job)
        connection = self._connected_worker()
        if connection is None:
            return
        worker = self.workers[connection[0]]
        if self.partition.is_ai:
            self._ai_job(at, worker)
        else:
            self._transcode_job(at, worker)

    def _connected_worker(self) -> _Connection | None:
        if self._pick is None:
            connections = list(self._live)
            weights = [
                self.workers[position].capacity / len(self.workers[position].hosts) for position, _ in connections
            ]
            self._pick = (connections, list(itertools.accumulate(weights)))
        connections, cumulative = self._pick
        if not connections:
            return None
        return self.rng.choices(connections, cum_weights=cumulative)[0]

    def _transcode_job(self, at: float, worker: Worker) -> None:
        rng = self.rng
        broadcaster = rng.choices(self.customers.broadcasters, cum_weights=self._broadcaster_weights)[0]
        renditions = rng.choices(LADDERS, cum_weights=self._ladder_weights)[0][0]
        if rng.random() < RESPONSE_TIME_RACE_SHARE:
            response_ms = 0
        else:
            response_ms = max(1, round(TRANSCODE_MEDIAN_RESPONSE_MS * worker.speed * rng.lognormvariate(0, 0.3)))
        payload = transcode_job_processed(
            worker.address, renditions, broadcaster.base_price.per_compute_unit, response_ms, SEGMENT_MS
        )
        self._emit(at, EventType.JOB_PROCESSED, payload)

    def _ai_job(self, at: float, worker: Worker) -> None:
        rng = self.rng
        model = rng.choices(worker.models, weights=[m.popularity for m in worker.models])[0]
        gateway = rng.choices(self.customers.gateways, cum_weights=self._gateway_weights)[0]
        request_id = self._new_request_id()
        response_ns = round(model.median_response_ns * worker.speed * rng.lognormvariate(0, 0.35))
        processed = ai_job_processed(
            request_id,
            model.pipeline,
            model.model_id,
            response_ns,
            rng.choice(model.compute_units),
            gateway.price(model.pipeline).per_compute_unit,
        )
        unmatched = unmatched_half(rng, self.load.unmatched_rate)
        if unmatched is not UnmatchedHalf.PROCESSED_ONLY:
            received = ai_job_received(worker.address, request_id, model.pipeline, model.model_id)
            self._emit(at, EventType.JOB_RECEIVED, received)
        if unmatched is not UnmatchedHalf.RECEIVED_ONLY:
            # job-received fires when the worker's result arrives; job-processed after fees are debited.
            processed_at = at + rng.uniform(*AI_PROCESSED_DELAY_SECONDS)
            if processed_at >= self.load.duration_seconds:
                processed_at = at
            self._schedule(processed_at, partial(self._emit_at, EventType.JOB_PROCESSED, processed))

    def _emit_at(self, event_type: str, payload: dict[str, object], at: float) -> None:
        self._emit(at, event_type, payload)

    def _new_request_id(self) -> str:
        """8 lowercase hex like `RandomManifestID`, unique within the data set so that pairs are unambiguous."""
        while True:
            request_id = f"{self.rng.getrandbits(32):08x}"
            if request_id not in self._request_ids:
                self._request_ids.add(request_id)
                return request_id
