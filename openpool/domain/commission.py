"""The pool's commission on a job's fees, in exact integer wei.

The rate is kept as a fraction of integers: the predecessor's `int(fees * rate)` on floats loses wei for
fees above 2**53 (replaced-system.md §9.10). The commission is floored, so any rounding favours the worker,
as it did before (§4.2): fees 7 at rate 0.25 give the pool 1 and the worker 6.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class CommissionRate:
    fraction: Fraction

    def __post_init__(self) -> None:
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"commission rate must lie in [0, 1], got {self.fraction}")

    @classmethod
    def from_decimal(cls, rate: Decimal) -> CommissionRate:
        if not rate.is_finite():
            raise ValueError(f"commission rate must be a finite number, got {rate}")
        return cls(Fraction(rate))

    def split(self, fees_wei: int) -> FeeSplit:
        if fees_wei < 0:
            raise ValueError(f"fees must not be negative, got {fees_wei}")
        pool_commission = fees_wei * self.fraction.numerator // self.fraction.denominator
        return FeeSplit(fees_wei=fees_wei, pool_commission=pool_commission, worker_earnings=fees_wei - pool_commission)


@dataclass(frozen=True, slots=True)
class FeeSplit:
    fees_wei: int
    pool_commission: int
    worker_earnings: int
