"""The pool's commission: floor(fees × rate) in exact integer wei, the rest to the worker."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.commission import CommissionRate, FeeSplit

QUARTER = CommissionRate.from_decimal(Decimal("0.25"))

rates = st.decimals(min_value=0, max_value=1, allow_nan=False, allow_infinity=False)
fees = st.integers(min_value=0, max_value=2**63 - 1) | st.integers(min_value=0, max_value=2**256)


def test_commission_rounds_in_favour_of_the_worker() -> None:
    assert QUARTER.split(7) == FeeSplit(fees_wei=7, pool_commission=1, worker_earnings=6)


def test_the_reference_job_pays_a_quarter_to_the_pool_at_the_default_rate() -> None:
    assert QUARTER.split(90_305_280_000) == FeeSplit(90_305_280_000, 22_576_320_000, 67_728_960_000)


def test_the_rate_is_taken_exactly_from_its_decimal_text() -> None:
    assert CommissionRate.from_decimal(Decimal("0.1")).fraction == Fraction(1, 10)


def test_commission_on_fees_beyond_float_precision_is_exact() -> None:
    fees_wei = 4_611_686_018_427_387_911
    assert int(fees_wei * 0.25) == 1_152_921_504_606_846_976, "the predecessor's float arithmetic loses a wei"
    assert QUARTER.split(fees_wei).pool_commission == 1_152_921_504_606_846_977


@pytest.mark.parametrize(("rate", "commission"), [(Decimal(0), 0), (Decimal(1), 1000), (Decimal("0.33"), 330)])
def test_the_rate_bounds_give_nothing_or_everything_to_the_pool(rate: Decimal, commission: int) -> None:
    assert CommissionRate.from_decimal(rate).split(1000).pool_commission == commission


@pytest.mark.parametrize("rate", [Decimal("-0.01"), Decimal("1.0001"), Decimal("NaN"), Decimal("Infinity")])
def test_a_rate_outside_zero_to_one_is_refused(rate: Decimal) -> None:
    with pytest.raises(ValueError, match="commission rate"):
        CommissionRate.from_decimal(rate)


def test_negative_fees_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        QUARTER.split(-1)


@settings(max_examples=300, deadline=None)
@given(rates, fees)
def test_commission_and_earnings_always_add_up_to_the_fees(rate: Decimal, fees_wei: int) -> None:
    split = CommissionRate.from_decimal(rate).split(fees_wei)
    assert split.pool_commission + split.worker_earnings == split.fees_wei == fees_wei
    assert 0 <= split.pool_commission <= fees_wei


@settings(max_examples=300, deadline=None)
@given(rates, fees)
def test_commission_is_the_exact_floor_of_fees_times_rate(rate: Decimal, fees_wei: int) -> None:
    numerator, denominator = rate.as_integer_ratio()
    commission = CommissionRate.from_decimal(rate).split(fees_wei).pool_commission
    assert commission * denominator <= fees_wei * numerator < (commission + 1) * denominator
