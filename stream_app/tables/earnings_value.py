"""The `earnings` table value of one worker: an entry per partition key, each with the last origin applied.

Keeping the guard inside the value it guards makes each changelog record self-consistent: a crash can lose
a write, but never leave an entry updated without its guard (docs/design.md, rules 2-3).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from openpool.domain.commission import CommissionRate
from openpool.domain.delivery import AppliedOrigins, is_applied, mark_applied
from openpool.domain.earnings import EarningsEntry, apply_job, earnings_by_address
from stream_app.forwarded_jobs import ForwardedJob


@dataclass(frozen=True, slots=True)
class WorkerEarnings:
    worker_address: str
    entries: dict[str, EarningsEntry] = field(default_factory=dict)
    applied: AppliedOrigins = field(default_factory=AppliedOrigins)

    def has_applied(self, forwarded: ForwardedJob) -> bool:
        return is_applied(self.applied, forwarded.job.partition_key, forwarded.origin)

    def apply(self, forwarded: ForwardedJob, rate: CommissionRate) -> WorkerEarnings:
        job = forwarded.job
        entry = apply_job(self.entries.get(job.partition_key), job, rate)
        return WorkerEarnings(
            worker_address=self.worker_address,
            entries={**self.entries, job.partition_key: entry},
            applied=mark_applied(self.applied, job.partition_key, forwarded.origin),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "worker_address": self.worker_address,
            "entries": {pk: asdict(entry) for pk, entry in self.entries.items()},
            "applied": self.applied.to_json(),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> WorkerEarnings:
        return cls(
            worker_address=obj["worker_address"],
            entries={pk: EarningsEntry(**entry) for pk, entry in obj["entries"].items()},
            applied=AppliedOrigins.from_json(obj["applied"]),
        )

    def read_model(self) -> dict[str, Any]:
        """What the API, the exporter and the payer see: per-partition entries and the per-address total."""
        total = earnings_by_address(self.entries.values())[self.worker_address]
        return {
            "worker_address": self.worker_address,
            "total_fees": total.total_fees,
            "pool_commission": total.pool_commission,
            "worker_earnings": total.worker_earnings,
            "job_count": total.job_count,
            "partitions": {pk: asdict(entry) for pk, entry in sorted(self.entries.items())},
        }
