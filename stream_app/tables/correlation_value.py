"""The `correlation` table value of one AI partition key: the pending halves and what has expired so far.

The totals live in the same value as the state that produces them, so a crash can never count an expiry
without also removing the expired half (docs/design.md, rule 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openpool.domain.correlation import CorrelationState, Outcomes


@dataclass(frozen=True, slots=True)
class ExpiryTotals:
    unattributed_jobs: int = 0
    unattributed_fees_wei: int = 0
    unmatched_received: int = 0

    def add(self, outcomes: Outcomes) -> ExpiryTotals:
        return ExpiryTotals(
            unattributed_jobs=self.unattributed_jobs + len(outcomes.unattributed),
            unattributed_fees_wei=self.unattributed_fees_wei + sum(o.fees_wei for o in outcomes.unattributed),
            unmatched_received=self.unmatched_received + len(outcomes.unmatched),
        )


@dataclass(frozen=True, slots=True)
class PartitionCorrelation:
    state: CorrelationState = field(default_factory=CorrelationState)
    totals: ExpiryTotals = field(default_factory=ExpiryTotals)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.to_json(),
            "totals": {
                "unattributed_jobs": self.totals.unattributed_jobs,
                "unattributed_fees_wei": self.totals.unattributed_fees_wei,
                "unmatched_received": self.totals.unmatched_received,
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartitionCorrelation:
        return cls(CorrelationState.from_json(data["state"]), ExpiryTotals(**data["totals"]))

    def read_model(self) -> dict[str, Any]:
        return {
            "held_jobs": sum(len(halves) for halves in self.state.processed.values()),
            "held_fees_wei": self.state.held_fees_wei,
            "waiting_received": sum(len(halves) for halves in self.state.received.values()),
            "unattributed_jobs": self.totals.unattributed_jobs,
            "unattributed_fees_wei": self.totals.unattributed_fees_wei,
            "unmatched_received": self.totals.unmatched_received,
        }
