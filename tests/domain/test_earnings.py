"""The earnings ledger: per worker and partition, commission split per job; payouts sum over partitions."""

from __future__ import annotations

from decimal import Decimal
from functools import reduce
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.commission import CommissionRate
from openpool.domain.earnings import AddressEarnings, EarningsEntry, apply_job, earnings_by_address
from openpool.domain.jobs import AttributedJob
from tests.domain.attributed_jobs import ALICE, BOB, a_transcode_job, an_ai_job, attributed_jobs

QUARTER = CommissionRate.from_decimal(Decimal("0.25"))


def ledger(jobs: list[AttributedJob], rate: CommissionRate = QUARTER) -> dict[tuple[str, str], EarningsEntry]:
    entries: dict[tuple[str, str], EarningsEntry] = {}
    for job in jobs:
        key = (job.worker_address, job.partition_key)
        entries[key] = apply_job(entries.get(key), job, rate)
    return entries


def test_a_first_job_opens_the_workers_entry_in_its_partition() -> None:
    assert apply_job(None, a_transcode_job(ALICE, fees_wei=90_305_280_000), QUARTER) == EarningsEntry(
        worker_address=ALICE,
        partition_key="us-central|transcode",
        total_fees=90_305_280_000,
        pool_commission=22_576_320_000,
        worker_earnings=67_728_960_000,
        job_count=1,
    )


def test_commission_is_rounded_per_job_not_on_the_total() -> None:
    entry = reduce(lambda entry, job: apply_job(entry, job, QUARTER), [a_transcode_job(fees_wei=7)] * 2, None)
    assert entry is not None
    assert (entry.total_fees, entry.pool_commission, entry.worker_earnings) == (14, 2, 12)


def test_a_job_without_fees_counts_but_earns_nothing() -> None:
    entry = apply_job(None, an_ai_job(BOB, fees_wei=0), QUARTER)
    assert (entry.job_count, entry.total_fees, entry.pool_commission, entry.worker_earnings) == (1, 0, 0, 0)


@pytest.mark.parametrize(
    "job",
    [a_transcode_job(BOB), a_transcode_job(ALICE, partition_key="eu-central|transcode")],
    ids=["another worker", "another partition"],
)
def test_a_job_is_refused_by_the_entry_of_another_worker_or_partition(job: AttributedJob) -> None:
    with pytest.raises(ValueError, match="applied to the entry of"):
        apply_job(EarningsEntry(ALICE, "us-central|transcode"), job, QUARTER)


def test_earnings_of_an_address_are_summed_over_its_partitions() -> None:
    entries = ledger(
        [
            a_transcode_job(ALICE, fees_wei=7),
            a_transcode_job(ALICE, fees_wei=100, partition_key="eu-central|transcode"),
            a_transcode_job(BOB, fees_wei=40),
        ]
    )
    assert earnings_by_address(entries.values()) == {
        ALICE: AddressEarnings(
            worker_address=ALICE,
            total_fees=107,
            pool_commission=26,
            worker_earnings=81,
            job_count=2,
            partition_keys=("eu-central|transcode", "us-central|transcode"),
        ),
        BOB: AddressEarnings(BOB, 40, 10, 30, 1, ("us-central|transcode",)),
    }


def test_two_entries_for_the_same_worker_and_partition_are_refused() -> None:
    entry = apply_job(None, a_transcode_job(ALICE), QUARTER)
    with pytest.raises(ValueError, match="two entries"):
        earnings_by_address([entry, entry])


jobs_lists = st.lists(attributed_jobs, max_size=30)
rates = st.decimals(min_value=0, max_value=1, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(jobs_lists, rates, st.randoms(use_true_random=False))
def test_the_same_jobs_in_any_order_give_the_same_ledger(
    jobs: list[AttributedJob], rate: Decimal, shuffler: Random
) -> None:
    shuffled = list(jobs)
    shuffler.shuffle(shuffled)
    commission = CommissionRate.from_decimal(rate)
    assert ledger(shuffled, commission) == ledger(jobs, commission)


@settings(max_examples=200, deadline=None)
@given(jobs_lists, rates)
def test_a_ledger_entry_is_the_sum_of_its_jobs_fee_splits(jobs: list[AttributedJob], rate: Decimal) -> None:
    commission = CommissionRate.from_decimal(rate)
    for (worker, partition), entry in ledger(jobs, commission).items():
        own = [job for job in jobs if (job.worker_address, job.partition_key) == (worker, partition)]
        splits = [commission.split(job.fees_wei) for job in own]
        assert entry == EarningsEntry(
            worker_address=worker,
            partition_key=partition,
            total_fees=sum(job.fees_wei for job in own),
            pool_commission=sum(split.pool_commission for split in splits),
            worker_earnings=sum(split.worker_earnings for split in splits),
            job_count=len(own),
        )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=2**62, max_value=2**63 - 1), min_size=1, max_size=10), rates)
def test_totals_far_beyond_int64_stay_exact(fees: list[int], rate: Decimal) -> None:
    numerator, denominator = rate.as_integer_ratio()
    entries = ledger([a_transcode_job(ALICE, fees_wei=amount) for amount in fees], CommissionRate.from_decimal(rate))
    entry = entries[(ALICE, "us-central|transcode")]
    assert entry.total_fees == sum(fees)
    assert entry.pool_commission == sum(amount * numerator // denominator for amount in fees)
    assert entry.worker_earnings == sum(fees) - entry.pool_commission
