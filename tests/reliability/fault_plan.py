"""What each trial of the fault loop does to the pipeline: a pure function of the loop's seed and the trial number.

A trial gets one to three faults, each at a random moment after its files start to arrive, so that a fault
lands before, during or after the processing and the payouts of the batch. Some trials also run the payer
with its kill switch on. Replaying a seed replays the plans and the data; the processes' timing is the
machine's own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

LATEST_FAULT_SECONDS = 2.5
"""Faults start within this many seconds of the upload: a small batch is published, processed and paid in
about that time, so moments spread over it hit every stage."""

KILL_SWITCH_SHARE = 0.1


class FaultKind(StrEnum):
    KILL_BRIDGE = "kill_bridge"
    KILL_WORKER = "kill_worker"
    KILL_PAYER = "kill_payer"
    BROKER_RESTART = "broker_restart"
    S3_OUTAGE = "s3_outage"
    RPC_OUTAGE = "rpc_outage"
    RPC_ERRORS = "rpc_errors"
    REBALANCE = "rebalance"


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    at_seconds: float
    """After the trial's upload started."""
    duration_seconds: float
    """How long an outage lasts, or how long a stopped broker stays down; unused by kills."""
    pick: float
    """A uniform draw in [0, 1) that chooses the victim among the processes of its kind, or, for a rebalance,
    whether a worker joins (below one half) or leaves."""

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "at_seconds": round(self.at_seconds, 2),
            "duration_seconds": round(self.duration_seconds, 2),
            "pick": round(self.pick, 3),
        }


@dataclass(frozen=True, slots=True)
class TrialPlan:
    trial: int
    faults: tuple[Fault, ...]
    kill_switch: bool

    def to_json(self) -> dict[str, object]:
        return {
            "trial": self.trial,
            "kill_switch": self.kill_switch,
            "faults": [fault.to_json() for fault in self.faults],
        }


def plan_trial(seed: int, trial: int) -> TrialPlan:
    rng = random.Random(f"{seed}/plan/{trial}")
    count = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
    faults = tuple(
        sorted(
            (
                Fault(
                    kind=rng.choice(list(FaultKind)),
                    at_seconds=rng.uniform(0.0, LATEST_FAULT_SECONDS),
                    duration_seconds=rng.uniform(0.5, 3.0),
                    pick=rng.random(),
                )
                for _ in range(count)
            ),
            key=lambda fault: fault.at_seconds,
        )
    )
    return TrialPlan(trial, faults, kill_switch=rng.random() < KILL_SWITCH_SHARE)
