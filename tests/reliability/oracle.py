"""The pure core's answer for every file the fault loop uploaded so far, kept up to date trial by trial.

It dispatches each accepted event as stage 1 does (AI halves through correlation, transcode jobs straight
to fees, connection events to neither), over each file's final content, once: the distinct events. Trials
cover successive minutes, so feeding each trial's files in key order is the global event-time order the
core would see in one pass. Besides the earnings it keeps what must reach the dead-letter topic: every
element the contract rejects, and every AI fee whose partner never came within the TTL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from openpool.domain.commission import CommissionRate
from openpool.domain.correlation import CorrelationPolicy, CorrelationState, attribute
from openpool.domain.earnings import EarningsEntry, apply_job
from openpool.domain.event_files import SourceKey, parse_event_file
from openpool.domain.events import Event, EventType, NodeType
from openpool.domain.jobs import transcode_job

_CORRELATED = {EventType.JOB_RECEIVED, EventType.JOB_PROCESSED}


@dataclass(frozen=True, slots=True, order=True)
class Refusal:
    """Where the bridge must dead-letter an element (position None: the whole file) and why."""

    source_key: str
    position: int | None
    reason: str


class PureCoreOracle:
    def __init__(self, rate: CommissionRate, policy: CorrelationPolicy) -> None:
        self._rate = rate
        self._policy = policy
        self._correlation: dict[str, CorrelationState] = defaultdict(CorrelationState)
        self._seen_keys: set[str] = set()
        self.earnings: dict[tuple[str, str], EarningsEntry] = {}
        """By (worker address, partition key)."""
        self.refusals: set[Refusal] = set()
        self.unattributed: set[str] = set()
        """Event ids of AI job-processed events whose fees no worker can be given."""
        self.events = 0

    def add(self, files: Mapping[str, bytes]) -> None:
        for key in sorted(files):
            if key in self._seen_keys:
                raise ValueError(f"{key} was uploaded in an earlier trial: the oracle takes each key once")
            self._seen_keys.add(key)
            source = SourceKey.parse(key)
            if source is None:
                raise ValueError(f"{key} is not an emitter key")
            parsed = parse_event_file(source, files[key])
            self.refusals.update(Refusal(key, r.position, r.reason) for r in parsed.rejections)
            for positioned in parsed.events:
                self._apply(positioned.event)

    def earned_by_address(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for (address, _), entry in self.earnings.items():
            totals[address] += entry.worker_earnings
        return dict(totals)

    def _apply(self, event: Event) -> None:
        self.events += 1
        if event.node_type == NodeType.AI and event.event_type in _CORRELATED:
            state, outcomes = attribute(self._correlation[event.partition_key], event, self._policy)
            self._correlation[event.partition_key] = state
            jobs = outcomes.attributed
            self.unattributed.update(fees.event_id for fees in outcomes.unattributed)
        elif event.event_type is EventType.JOB_PROCESSED:
            jobs = (transcode_job(event),)
        else:
            return
        for job in jobs:
            slot = (job.worker_address, job.partition_key)
            self.earnings[slot] = apply_job(self.earnings.get(slot), job, self._rate)
