"""A worker's cumulative earnings ledger: one entry per (worker address, partition key), summed per address.

Commission is split per job and then accumulated, as the predecessor did (replaced-system.md §4.2), so an
entry never depends on how jobs were batched. Payouts are per address over all partitions (fixing §9.7).
Applying a job is not idempotent: duplicate deliveries must be removed by event id before this point.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from openpool.domain.commission import CommissionRate
from openpool.domain.jobs import AttributedJob


@dataclass(frozen=True, slots=True)
class EarningsEntry:
    worker_address: str
    partition_key: str
    total_fees: int = 0
    pool_commission: int = 0
    worker_earnings: int = 0
    job_count: int = 0


@dataclass(frozen=True, slots=True)
class AddressEarnings:
    worker_address: str
    total_fees: int
    pool_commission: int
    worker_earnings: int
    job_count: int
    partition_keys: tuple[str, ...]


def apply_job(entry: EarningsEntry | None, job: AttributedJob, rate: CommissionRate) -> EarningsEntry:
    """The entry after one more job; `None` is the entry of a worker not yet seen in the job's partition.

    A job with zero fees (AI prices truncate to 0, §2.4) still counts as a job.
    """
    current = entry if entry is not None else EarningsEntry(job.worker_address, job.partition_key)
    if (current.worker_address, current.partition_key) != (job.worker_address, job.partition_key):
        raise ValueError(
            f"job {job.event_id} of {job.worker_address} in {job.partition_key} applied to the entry of "
            f"{current.worker_address} in {current.partition_key}"
        )
    split = rate.split(job.fees_wei)
    return replace(
        current,
        total_fees=current.total_fees + split.fees_wei,
        pool_commission=current.pool_commission + split.pool_commission,
        worker_earnings=current.worker_earnings + split.worker_earnings,
        job_count=current.job_count + 1,
    )


def earnings_by_address(entries: Iterable[EarningsEntry]) -> dict[str, AddressEarnings]:
    totals: dict[str, AddressEarnings] = {}
    for entry in entries:
        known = totals.get(entry.worker_address, AddressEarnings(entry.worker_address, 0, 0, 0, 0, ()))
        if entry.partition_key in known.partition_keys:
            raise ValueError(f"two entries for {entry.worker_address} in {entry.partition_key}")
        totals[entry.worker_address] = AddressEarnings(
            worker_address=entry.worker_address,
            total_fees=known.total_fees + entry.total_fees,
            pool_commission=known.pool_commission + entry.pool_commission,
            worker_earnings=known.worker_earnings + entry.worker_earnings,
            job_count=known.job_count + entry.job_count,
            partition_keys=tuple(sorted((*known.partition_keys, entry.partition_key))),
        )
    return totals
