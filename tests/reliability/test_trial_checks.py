"""The fault loop's verdicts on made-up outputs: each broken promise is caught, and a clean outcome passes."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from openpool.dead_letters import DeadLetter, encode_dead_letter
from openpool.dlq.stored import StoredLetter, decode_letter
from openpool.domain.earnings import EarningsEntry
from openpool.domain.payouts import PayoutPolicy
from tests.payments.test_wal import PAYEE, history, signed
from tests.reliability.oracle import Refusal
from tests.reliability.trial_checks import (
    Findings,
    Transfer,
    compare_dead_letters,
    compare_earnings,
    compare_payouts,
)

PK = "us-west|transcode"
POLICY = PayoutPolicy(threshold_wei=10**15, max_payout_wei=10**17)
PAID = history()[-1]
"""A payout of 10**16 wei to PAYEE, mined and confirmed in the WAL."""
MINED = Transfer(PAID.tx_hashes[-1], PAYEE.lower(), PAID.amount_wei, block=5)


def _entry(worker_earnings: int, jobs: int) -> EarningsEntry:
    return EarningsEntry(PAYEE, PK, worker_earnings * 4 // 3, worker_earnings // 3, worker_earnings, jobs)


def _read_model(*entries: EarningsEntry) -> dict[str, object]:
    return {
        entry.worker_address: {
            "worker_address": entry.worker_address,
            "partitions": {entry.partition_key: asdict(entry)},
        }
        for entry in entries
    }


def _letter(stage: str, reason: str, key: str, position: int | None, detail: str = "") -> StoredLetter:
    letter = DeadLetter(reason, detail, stage, key, "v1", position, b"{}", datetime(2026, 1, 1, tzinfo=UTC))
    return decode_letter(0, 0, key.encode(), encode_dead_letter(letter))


def test_earnings_short_of_a_job_are_a_gap_that_counts_the_lost_wei() -> None:
    compared = compare_earnings({(PAYEE, PK): _entry(300, 3)}, _read_model(_entry(200, 2)))
    assert (compared.lost_wei, compared.extra_wei) == (100, 0)
    assert compared.findings.gaps and not compared.findings.violations
    assert not compare_earnings({(PAYEE, PK): _entry(300, 3)}, _read_model(_entry(300, 3))).findings.gaps


def test_earnings_the_oracle_never_computed_are_extra_wei() -> None:
    compared = compare_earnings({}, _read_model(_entry(300, 3)))
    assert (compared.lost_wei, compared.extra_wei) == (0, 300)


def test_a_payout_mined_once_and_confirmed_in_the_wal_settles_the_trial() -> None:
    compared = compare_payouts({PAYEE: PAID.amount_wei}, [MINED], [PAID], POLICY, kill_switch_block=None)
    assert compared.findings == Findings()
    assert (compared.double_payments, compared.overpaid_wei, compared.payouts) == (0, 0, 1)


def test_a_second_transfer_for_the_same_earnings_is_a_double_payment() -> None:
    again = Transfer("0x" + "ee" * 32, PAYEE.lower(), PAID.amount_wei, block=6)
    compared = compare_payouts({PAYEE: PAID.amount_wei}, [MINED, again], [PAID], POLICY, kill_switch_block=None)
    assert compared.double_payments == 1
    assert compared.overpaid_wei == PAID.amount_wei
    assert len(compared.findings.violations) == 2  # sent without a WAL record, and more than earned


def test_an_address_still_owed_or_a_payout_not_yet_settled_is_a_gap() -> None:
    owed = compare_payouts({PAYEE: 3 * PAID.amount_wei}, [MINED], [PAID], POLICY, kill_switch_block=None)
    assert owed.findings.gaps and not owed.findings.violations
    in_flight = compare_payouts({PAYEE: PAID.amount_wei}, [], [signed()], POLICY, kill_switch_block=None)
    assert any("not settled" in gap for gap in in_flight.findings.gaps)


def test_a_payout_above_the_cap_or_mined_under_the_kill_switch_is_a_violation() -> None:
    capped = PayoutPolicy(threshold_wei=10**15, max_payout_wei=PAID.amount_wei - 1)
    over_cap = compare_payouts({PAYEE: PAID.amount_wei}, [MINED], [PAID], capped, kill_switch_block=None)
    assert [v for v in over_cap.findings.violations if "above the cap" in v]
    switched_off = compare_payouts({PAYEE: PAID.amount_wei}, [MINED], [PAID], POLICY, kill_switch_block=4)
    assert [v for v in switched_off.findings.violations if "kill switch" in v]
    before_the_switch = compare_payouts({PAYEE: PAID.amount_wei}, [MINED], [PAID], POLICY, kill_switch_block=5)
    assert not before_the_switch.findings.violations


def test_a_refusal_missing_from_the_dead_letters_is_a_gap_and_a_record_given_up_on_a_violation() -> None:
    refusal = Refusal("us-west/transcode/f.json", 3, "negative_fees")
    found = [_letter("bridge", "negative_fees", refusal.source_key, 3)] * 2
    compared = compare_dead_letters({refusal}, set(), found)
    assert (compared.findings, compared.duplicates) == (Findings(), 1)
    assert compare_dead_letters({refusal}, set(), []).findings.gaps
    given_up = compare_dead_letters({refusal}, set(), [*found, _letter("stream", "processing_failed", "t/0", 9)])
    assert given_up.findings.violations


def test_unattributed_fees_must_be_exactly_the_expired_ai_halves() -> None:
    expired = _letter("stream", "unattributed_fees", "us-central/ai/f.json", None, '{"event_id": "e-1"}')
    assert not compare_dead_letters(set(), {"e-1"}, [expired]).findings.gaps
    assert compare_dead_letters(set(), {"e-1", "e-2"}, [expired]).findings.gaps
    assert compare_dead_letters(set(), set(), [expired]).findings.gaps
