"""The fault loop's inputs: trial batches with new and returning workers, the oracle over them, and the fault plans."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openpool.domain.commission import CommissionRate
from openpool.domain.correlation import CorrelationPolicy
from tests.reliability.fault_plan import LATEST_FAULT_SECONDS, plan_trial
from tests.reliability.oracle import PureCoreOracle, Refusal
from tests.reliability.trial_batches import TrialBatches
from tests.stream_app.pipeline import expected_earnings, pool_files

RATE = Decimal("0.25")


def _oracle() -> PureCoreOracle:
    return PureCoreOracle(CommissionRate.from_decimal(RATE), CorrelationPolicy())


def test_each_trial_brings_new_workers_and_earlier_ones_under_keys_never_used_before() -> None:
    batches = TrialBatches(seed=3)
    seen_workers: set[str] = set()
    seen_keys: set[str] = set()
    for trial in range(4):
        batch = batches.batch(trial)
        files = batch.files
        assert not seen_keys & files.keys()
        assert set(batch.returning) <= seen_workers
        assert batch.new_workers > 0 and not (set(batch.workers) - set(batch.returning)) & seen_workers
        assert (trial == 0) == (not batch.returning)
        for address in batch.returning:
            assert any(address.encode() in body for body in files.values()), address
        assert all(files[key] == body for key, body in batch.uploads), "a key uploaded with two contents"
        seen_workers.update(batch.workers)
        seen_keys.update(files)


def test_the_same_seed_gives_the_same_batches_and_plans() -> None:
    assert TrialBatches(seed=5).batch(0) == TrialBatches(seed=5).batch(0)
    assert TrialBatches(seed=5).batch(0) != TrialBatches(seed=6).batch(0)
    assert plan_trial(5, 2) == plan_trial(5, 2)
    plans = [plan_trial(5, trial) for trial in range(50)]
    assert len({plan.faults for plan in plans}) == 50
    for plan in plans:
        moments = [fault.at_seconds for fault in plan.faults]
        assert 1 <= len(moments) <= 3 and moments == sorted(moments) and max(moments) <= LATEST_FAULT_SECONDS


def test_the_oracle_gives_the_pipeline_tests_answer_for_the_same_files() -> None:
    files = pool_files(seed=4, minutes=3, transcode_jobs=10, ai_jobs=9)
    oracle = _oracle()
    oracle.add(files)
    assert oracle.earnings == expected_earnings(files, RATE)


def test_the_oracle_expects_a_dead_letter_for_an_unreadable_file_and_takes_each_key_once() -> None:
    key = "us-west/transcode/us-west-transcode-20251105T150000Z_20251105T150020Z.json"
    oracle = _oracle()
    oracle.add({key: b'[{"EventType": "job-processed", "Payl'})
    assert oracle.refusals == {Refusal(key, None, "invalid_json")}
    with pytest.raises(ValueError, match="earlier trial"):
        oracle.add({key: b"[]"})
