"""Payout planning: which workers are owed a payout now, and how much.

The planner is pure. It sees each address's earnings (summed over every partition, so a worker whose
balance is spread over regions still reaches the threshold) and what the payout WAL says was paid or is
under way, and returns the intents to pay plus, for every other address, why it is not paid.

Payout ids are derived from the address and its payout sequence number, never from a clock or randomness:
planning the same state twice yields the same ids, so a replayed or repeated run re-derives the intent the
WAL already holds instead of inventing a second one. An address that has any payout not yet settled is
never planned again until that payout reaches a terminal state.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Protocol


def payout_id(address: str, seq: int) -> str:
    return f"po-{address}-{seq}"


class SkipReason(StrEnum):
    BELOW_THRESHOLD = "below_threshold"
    OVERPAID = "overpaid"
    IN_FLIGHT = "in_flight"
    AWAITING_REVIEW = "awaiting_review"
    HALTED = "halted"
    KILL_SWITCH = "kill_switch"
    BUDGET_EXHAUSTED = "budget_exhausted"


class PaidView(Protocol):
    """What the payout WAL says about each address (built by `payments.wal.ledger_from_wal`).

    `confirmed_wei` counts only payouts mined successfully (or resolved as paid by an operator);
    `in_flight_wei` counts every payout that may still move money. `review_addresses` are those whose
    latest payout failed on chain and waits for an operator; `halted` is set while any payout is halted
    for ambiguity, which stops all payouts.
    """

    @property
    def confirmed_wei(self) -> Mapping[str, int]: ...

    @property
    def in_flight_wei(self) -> Mapping[str, int]: ...

    @property
    def next_seq(self) -> Mapping[str, int]: ...

    @property
    def open_addresses(self) -> Set[str]: ...

    @property
    def review_addresses(self) -> Set[str]: ...

    @property
    def halted(self) -> bool: ...

    def spent_wei_on(self, day: date) -> int: ...


@dataclass(frozen=True, slots=True)
class PayoutPolicy:
    threshold_wei: int
    max_payout_wei: int
    daily_budget_wei: int | None = None
    kill_switch: bool = False

    def __post_init__(self) -> None:
        if self.threshold_wei < 0:
            raise ValueError("threshold_wei must not be negative")
        if self.max_payout_wei <= 0:
            raise ValueError("max_payout_wei must be positive")
        if self.daily_budget_wei is not None and self.daily_budget_wei <= 0:
            raise ValueError("daily_budget_wei must be positive when set")


@dataclass(frozen=True, slots=True)
class PayoutIntent:
    payout_id: str
    address: str
    amount_wei: int
    seq: int


@dataclass(frozen=True, slots=True)
class PayoutPlan:
    intents: tuple[PayoutIntent, ...]
    skipped: Mapping[str, SkipReason] = field(default_factory=dict)

    @property
    def total_wei(self) -> int:
        return sum(intent.amount_wei for intent in self.intents)


def unpaid_wei(address: str, earnings_wei: Mapping[str, int], paid: PaidView) -> int:
    return earnings_wei.get(address, 0) - paid.confirmed_wei.get(address, 0) - paid.in_flight_wei.get(address, 0)


def plan_payouts(earnings_wei: Mapping[str, int], paid: PaidView, policy: PayoutPolicy, today: date) -> PayoutPlan:
    """Return the payouts due now; largest debts first, so a daily budget goes to them first."""
    for address, amount in earnings_wei.items():
        if amount < 0:
            raise ValueError(f"earnings of {address} are negative")
    addresses = set(earnings_wei) | set(paid.confirmed_wei) | set(paid.in_flight_wei) | set(paid.open_addresses)
    unpaid = {address: unpaid_wei(address, earnings_wei, paid) for address in addresses}
    budget_left = None if policy.daily_budget_wei is None else policy.daily_budget_wei - paid.spent_wei_on(today)
    due_from = max(policy.threshold_wei, 1)

    intents: list[PayoutIntent] = []
    skipped: dict[str, SkipReason] = {}
    for address in sorted(addresses, key=lambda a: (-unpaid[a], a)):
        owed = unpaid[address]
        if address in paid.open_addresses:
            skipped[address] = SkipReason.IN_FLIGHT
        elif address in paid.review_addresses:
            skipped[address] = SkipReason.AWAITING_REVIEW
        elif owed < 0:
            skipped[address] = SkipReason.OVERPAID
        elif owed < due_from:
            skipped[address] = SkipReason.BELOW_THRESHOLD
        elif paid.halted:
            skipped[address] = SkipReason.HALTED
        elif policy.kill_switch:
            skipped[address] = SkipReason.KILL_SWITCH
        else:
            amount = min(owed, policy.max_payout_wei)
            if budget_left is not None:
                if budget_left < min(amount, due_from):
                    skipped[address] = SkipReason.BUDGET_EXHAUSTED
                    continue
                amount = min(amount, budget_left)
                budget_left -= amount
            seq = paid.next_seq.get(address, 1)
            intents.append(PayoutIntent(payout_id(address, seq), address, amount, seq))
    return PayoutPlan(tuple(intents), skipped)
