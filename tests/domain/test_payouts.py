from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field, replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.payouts import (
    PayoutPlan,
    PayoutPolicy,
    SkipReason,
    payout_id,
    plan_payouts,
)

TODAY = date(2026, 3, 1)
A = "0x" + "A" * 40
B = "0x" + "B" * 40
C = "0x" + "C" * 40
POLICY = PayoutPolicy(threshold_wei=100, max_payout_wei=10**30)


@dataclass(frozen=True)
class Paid:
    """A hand-written WAL view; `payments.wal.PaidLedger` is the real one."""

    confirmed_wei: Mapping[str, int] = field(default_factory=dict)
    in_flight_wei: Mapping[str, int] = field(default_factory=dict)
    next_seq: Mapping[str, int] = field(default_factory=dict)
    open_addresses: Set[str] = frozenset()
    review_addresses: Set[str] = frozenset()
    halted: bool = False
    spent_today: int = 0

    def spent_wei_on(self, day: date) -> int:
        return self.spent_today if day == TODAY else 0


def with_in_flight(paid: Paid, plan: PayoutPlan) -> Paid:
    """What the WAL says once the plan's INTENT records are written."""
    in_flight = dict(paid.in_flight_wei)
    next_seq = dict(paid.next_seq)
    for intent in plan.intents:
        in_flight[intent.address] = in_flight.get(intent.address, 0) + intent.amount_wei
        next_seq[intent.address] = intent.seq + 1
    return replace(
        paid,
        in_flight_wei=in_flight,
        next_seq=next_seq,
        open_addresses=frozenset(paid.open_addresses) | {intent.address for intent in plan.intents},
        spent_today=paid.spent_today + plan.total_wei,
    )


def amounts(plan: PayoutPlan) -> dict[str, int]:
    return {intent.address: intent.amount_wei for intent in plan.intents}


def test_an_address_at_the_threshold_is_paid_its_whole_unpaid_balance() -> None:
    plan = plan_payouts({A: 150}, Paid(confirmed_wei={A: 50}), POLICY, TODAY)

    assert amounts(plan) == {A: 100}
    assert plan.skipped == {}


def test_an_address_below_the_threshold_is_skipped_with_its_reason() -> None:
    plan = plan_payouts({A: 149}, Paid(confirmed_wei={A: 50}), POLICY, TODAY)

    assert plan.intents == ()
    assert plan.skipped == {A: SkipReason.BELOW_THRESHOLD}


def test_an_address_with_an_open_payout_is_never_planned_again() -> None:
    paid = Paid(in_flight_wei={A: 100}, open_addresses=frozenset({A}), next_seq={A: 2})

    plan = plan_payouts({A: 10**9}, paid, POLICY, TODAY)

    assert plan.intents == ()
    assert plan.skipped == {A: SkipReason.IN_FLIGHT}


def test_payout_ids_follow_each_address_sequence_and_not_the_clock() -> None:
    paid = Paid(confirmed_wei={A: 100}, next_seq={A: 2})

    first = plan_payouts({A: 300, B: 100}, paid, POLICY, TODAY)
    again = plan_payouts({A: 300, B: 100}, paid, POLICY, date(2030, 1, 1))

    assert [(i.payout_id, i.seq) for i in first.intents] == [(payout_id(A, 2), 2), (payout_id(B, 1), 1)]
    assert first.intents == again.intents
    assert payout_id(A, 2) == f"po-{A}-2"


def test_a_payout_is_capped_at_the_maximum_and_the_rest_waits_for_the_next_run() -> None:
    policy = replace(POLICY, max_payout_wei=1_000)

    plan = plan_payouts({A: 2_500}, Paid(), policy, TODAY)
    after = plan_payouts({A: 2_500}, Paid(confirmed_wei={A: 1_000}, next_seq={A: 2}), policy, TODAY)

    assert amounts(plan) == {A: 1_000}
    assert amounts(after) == {A: 1_000}


def test_the_daily_budget_goes_to_the_largest_debts_first() -> None:
    policy = replace(POLICY, daily_budget_wei=1_000)

    plan = plan_payouts({A: 300, B: 800, C: 150}, Paid(), policy, TODAY)

    assert amounts(plan) == {B: 800, A: 200}
    assert plan.skipped == {C: SkipReason.BUDGET_EXHAUSTED}


def test_the_daily_budget_counts_what_was_already_paid_or_sent_today() -> None:
    policy = replace(POLICY, daily_budget_wei=1_000)

    plan = plan_payouts({A: 500}, Paid(spent_today=950), policy, TODAY)

    assert plan.intents == ()
    assert plan.skipped == {A: SkipReason.BUDGET_EXHAUSTED}


def test_the_kill_switch_plans_nothing_and_names_itself() -> None:
    plan = plan_payouts({A: 500, B: 5}, Paid(), replace(POLICY, kill_switch=True), TODAY)

    assert plan.intents == ()
    assert plan.skipped == {A: SkipReason.KILL_SWITCH, B: SkipReason.BELOW_THRESHOLD}


def test_a_halted_payout_stops_every_address() -> None:
    plan = plan_payouts({A: 500, B: 500}, Paid(halted=True), POLICY, TODAY)

    assert plan.intents == ()
    assert plan.skipped == {A: SkipReason.HALTED, B: SkipReason.HALTED}


def test_an_address_whose_last_payout_failed_on_chain_waits_for_review() -> None:
    plan = plan_payouts({A: 500}, Paid(review_addresses=frozenset({A}), next_seq={A: 2}), POLICY, TODAY)

    assert plan.skipped == {A: SkipReason.AWAITING_REVIEW}


def test_paid_more_than_earned_is_reported_not_paid() -> None:
    plan = plan_payouts({A: 100}, Paid(confirmed_wei={A: 300}), POLICY, TODAY)

    assert plan.skipped == {A: SkipReason.OVERPAID}


def test_a_zero_threshold_never_plans_an_empty_payout() -> None:
    plan = plan_payouts({A: 0, B: 1}, Paid(), replace(POLICY, threshold_wei=0), TODAY)

    assert amounts(plan) == {B: 1}
    assert plan.skipped == {A: SkipReason.BELOW_THRESHOLD}


def test_negative_earnings_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        plan_payouts({A: -1}, Paid(), POLICY, TODAY)


# --- properties ---

ADDRESSES = st.sampled_from(["0x" + c * 40 for c in "0123456789ABCDEF"])
WEI = st.integers(min_value=0, max_value=10**24)


@st.composite
def planning_inputs(draw: st.DrawFn) -> tuple[dict[str, int], Paid, PayoutPolicy]:
    earnings = draw(st.dictionaries(ADDRESSES, WEI, max_size=12))
    confirmed = {a: draw(st.integers(0, e)) for a, e in earnings.items() if draw(st.booleans())}
    open_addresses = draw(st.frozensets(st.sampled_from(sorted(earnings)) if earnings else st.nothing()))
    in_flight = {a: draw(st.integers(0, earnings[a] - confirmed.get(a, 0))) for a in open_addresses}
    paid = Paid(
        confirmed_wei=confirmed,
        in_flight_wei=in_flight,
        next_seq={a: draw(st.integers(1, 50)) for a in earnings},
        open_addresses=open_addresses,
        spent_today=draw(st.integers(0, 10**22)),
    )
    policy = PayoutPolicy(
        threshold_wei=draw(st.integers(0, 10**20)),
        max_payout_wei=draw(st.integers(1, 10**24)),
        daily_budget_wei=draw(st.none() | st.integers(1, 10**24)),
    )
    return earnings, paid, policy


@given(planning_inputs())
@settings(max_examples=300)
def test_planning_again_after_writing_the_intents_plans_nothing_new(
    inputs: tuple[dict[str, int], Paid, PayoutPolicy],
) -> None:
    earnings, paid, policy = inputs
    plan = plan_payouts(earnings, paid, policy, TODAY)

    again = plan_payouts(earnings, with_in_flight(paid, plan), policy, TODAY)

    assert not {i.address for i in again.intents} & {i.address for i in plan.intents}
    assert all(again.skipped[i.address] is SkipReason.IN_FLIGHT for i in plan.intents)
    assert plan_payouts(earnings, paid, policy, TODAY) == plan


@given(planning_inputs())
@settings(max_examples=300)
def test_what_is_planned_never_exceeds_earnings_less_what_was_paid_or_sent(
    inputs: tuple[dict[str, int], Paid, PayoutPolicy],
) -> None:
    earnings, paid, policy = inputs
    plan = plan_payouts(earnings, paid, policy, TODAY)

    for intent in plan.intents:
        owed = earnings[intent.address] - paid.confirmed_wei.get(intent.address, 0)
        assert 0 < intent.amount_wei <= owed - paid.in_flight_wei.get(intent.address, 0)
        assert intent.amount_wei <= policy.max_payout_wei
    assert len({i.address for i in plan.intents}) == len(plan.intents)
    if policy.daily_budget_wei is not None:
        assert plan.total_wei <= max(policy.daily_budget_wei - paid.spent_today, 0)


@given(planning_inputs())
@settings(max_examples=300)
def test_an_address_with_an_open_payout_is_never_in_a_plan(
    inputs: tuple[dict[str, int], Paid, PayoutPolicy],
) -> None:
    earnings, paid, policy = inputs
    plan = plan_payouts(earnings, paid, policy, TODAY)

    assert not {i.address for i in plan.intents} & set(paid.open_addresses)
    assert set(plan.skipped) | {i.address for i in plan.intents} >= set(earnings)
