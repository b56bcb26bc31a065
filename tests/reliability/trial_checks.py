"""What a trial of the fault loop must end with, as pure comparisons of the pipeline's outputs with the oracle.

Each comparison returns violations — a promise broken for good (money sent twice or beyond a cap, a record
the stream app gave up on), which stop the loop at once — and gaps, which recovery may still close and
which fail the trial only if they outlast its deadline.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from openpool.dlq.stored import StoredLetter
from openpool.domain.earnings import EarningsEntry
from openpool.domain.payouts import PayoutPolicy
from payments.wal import PAID_STATES, PayoutState, WalRecord, latest_records
from tests.reliability.oracle import Refusal

SHOWN = 5
"""Examples quoted per finding; the counts cover the rest."""


@dataclass(frozen=True, slots=True)
class Findings:
    violations: tuple[str, ...] = ()
    gaps: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EarningsComparison:
    differing: Mapping[tuple[str, str], tuple[dict[str, Any] | None, dict[str, Any] | None]]
    """(address, partition key) -> (the oracle's entry, the read model's entry), where they differ."""
    lost_wei: int
    """Worker earnings the oracle has and the read model lacks."""
    extra_wei: int
    """Worker earnings the read model has beyond the oracle's."""

    @property
    def findings(self) -> Findings:
        if not self.differing:
            return Findings()
        shown = sorted(self.differing.items())[:SHOWN]
        return Findings(
            gaps=(
                f"earnings of {len(self.differing)} (worker, partition) entries differ from the pure core's "
                f"(lost {self.lost_wei} wei, extra {self.extra_wei} wei), e.g. {shown}",
            )
        )


def compare_earnings(
    expected: Mapping[tuple[str, str], EarningsEntry], read_model: Mapping[str, Any]
) -> EarningsComparison:
    """The earnings read model (`{app}.earnings`, latest value per worker) against the oracle, entry by entry."""
    observed: dict[tuple[str, str], dict[str, Any]] = {
        (str(model["worker_address"]), pk): dict(entry)
        for model in read_model.values()
        for pk, entry in model["partitions"].items()
    }
    wanted = {slot: asdict(entry) for slot, entry in expected.items()}
    differing = {
        slot: (wanted.get(slot), observed.get(slot))
        for slot in wanted.keys() | observed.keys()
        if wanted.get(slot) != observed.get(slot)
    }
    lost = extra = 0
    for want, have in differing.values():
        delta = (have["worker_earnings"] if have else 0) - (want["worker_earnings"] if want else 0)
        lost += max(0, -delta)
        extra += max(0, delta)
    return EarningsComparison(differing, lost, extra)


@dataclass(frozen=True, slots=True)
class DeadLetterComparison:
    missing: frozenset[Refusal]
    unexpected: tuple[dict[str, Any], ...]
    """Letters that mean the pipeline refused or gave up on what it should have processed."""
    unattributed_missing: frozenset[str]
    unattributed_unexpected: frozenset[str]
    duplicates: int
    """Letters written more than once for the same refusal (a republished file after a crash)."""
    by_reason: Mapping[str, int]
    """`stage/reason` -> letters."""

    @property
    def findings(self) -> Findings:
        violations = []
        if self.unexpected:
            violations.append(f"{len(self.unexpected)} unexpected dead letters, e.g. {list(self.unexpected[:SHOWN])}")
        gaps = []
        if self.missing:
            shown = sorted(self.missing, key=str)[:SHOWN]
            gaps.append(f"{len(self.missing)} refusals not in the dead-letter topic, e.g. {shown}")
        if self.unattributed_missing or self.unattributed_unexpected:
            gaps.append(
                f"unattributed AI fees: {len(self.unattributed_missing)} expected and missing "
                f"{sorted(self.unattributed_missing)[:SHOWN]}, {len(self.unattributed_unexpected)} not expected "
                f"{sorted(self.unattributed_unexpected)[:SHOWN]}"
            )
        return Findings(tuple(violations), tuple(gaps))


def compare_dead_letters(
    refusals: Iterable[Refusal], unattributed: Iterable[str], letters: Sequence[StoredLetter]
) -> DeadLetterComparison:
    seen: Counter[tuple[str, str, int | None, str]] = Counter()
    found: set[Refusal] = set()
    found_unattributed: set[str] = set()
    unexpected: list[dict[str, Any]] = []
    for letter in letters:
        stage, reason, key, position = letter.stage, letter.reason, letter.source_key, letter.position
        if stage == "stream" and reason == "unattributed_fees":
            event_id = str(json.loads(letter.detail)["event_id"])
            found_unattributed.add(event_id)
            seen[(stage, event_id, None, reason)] += 1
        elif stage == "bridge":
            found.add(Refusal(key, position, reason))
            seen[(stage, key, position, reason)] += 1
        else:
            unexpected.append(
                {"stage": stage, "reason": reason, "detail": letter.detail, "source_key": key, "position": position}
            )
    expected = set(refusals)
    unexpected.extend(
        {"stage": "bridge", "reason": r.reason, "source_key": r.source_key, "position": r.position}
        for r in sorted(found - expected)
    )
    expected_unattributed = set(unattributed)
    return DeadLetterComparison(
        missing=frozenset(expected - found),
        unexpected=tuple(unexpected),
        unattributed_missing=frozenset(expected_unattributed - found_unattributed),
        unattributed_unexpected=frozenset(found_unattributed - expected_unattributed),
        duplicates=sum(count - 1 for count in seen.values()),
        by_reason=dict(Counter(f"{letter.stage}/{letter.reason}" for letter in letters)),
    )


@dataclass(frozen=True, slots=True)
class Transfer:
    """A successful value transfer from the payer's account, as mined."""

    tx_hash: str
    to: str
    """Lower case, as the node reports it."""
    value_wei: int
    block: int


@dataclass(frozen=True, slots=True)
class PayoutComparison:
    findings: Findings
    double_payments: int
    """Transfers beyond the one each WAL payout may make, and transfers no WAL record knows."""
    overpaid_wei: int
    """Wei paid to addresses beyond what they earned."""
    paid_wei: int
    payouts: int
    capped: int
    """Payouts of exactly the cap: the owed amount was larger."""


def compare_payouts(
    earned: Mapping[str, int],
    transfers: Sequence[Transfer],
    wal: Sequence[WalRecord] | None,
    policy: PayoutPolicy,
    kill_switch_block: int | None,
) -> PayoutComparison:
    """The chain against the oracle's earnings and the payout WAL.

    `wal` None: the chain against the earnings only. `kill_switch_block`: the kill switch is on, and nothing
    may be mined after that block.
    """
    earned_lower = {address.lower(): wei for address, wei in earned.items()}
    paid: dict[str, int] = defaultdict(int)
    violations: list[str] = []
    for transfer in transfers:
        paid[transfer.to] += transfer.value_wei
        if transfer.value_wei > policy.max_payout_wei:
            cap = policy.max_payout_wei
            violations.append(f"{transfer.tx_hash} pays {transfer.value_wei} wei, above the cap {cap}")
        if kill_switch_block is not None and transfer.block > kill_switch_block:
            violations.append(f"{transfer.tx_hash} mined in block {transfer.block} with the kill switch on")
    overpaid = {a: wei - earned_lower.get(a, 0) for a, wei in paid.items() if wei > earned_lower.get(a, 0)}
    violations.extend(f"{a} paid {paid[a]} wei but earned {earned_lower.get(a, 0)}" for a in sorted(overpaid))
    gaps: list[str] = []
    if kill_switch_block is None:
        due = {a: wei - paid[a] for a, wei in earned_lower.items() if wei - paid[a] >= max(policy.threshold_wei, 1)}
        if due:
            gaps.append(f"{len(due)} addresses are owed a payout, e.g. {sorted(due.items())[:SHOWN]}")
    doubles = 0
    if wal is not None:
        wal_violations, wal_gaps, doubles = _against_wal(wal, transfers, paid, kill_switch_block is not None)
        violations.extend(wal_violations)
        gaps.extend(wal_gaps)
    return PayoutComparison(
        findings=Findings(tuple(violations), tuple(gaps)),
        double_payments=doubles,
        overpaid_wei=sum(overpaid.values()),
        paid_wei=sum(paid.values()),
        payouts=len(transfers),
        capped=sum(1 for transfer in transfers if transfer.value_wei == policy.max_payout_wei),
    )


def _against_wal(
    wal: Sequence[WalRecord], transfers: Sequence[Transfer], paid: Mapping[str, int], kill_switch: bool
) -> tuple[list[str], list[str], int]:
    latest = latest_records(wal)
    payout_of = {tx_hash: record.payout_id for record in latest.values() for tx_hash in record.tx_hashes}
    mined = Counter(payout_of.get(transfer.tx_hash) for transfer in transfers)
    unknown = [t.tx_hash for t in transfers if t.tx_hash not in payout_of]
    twice = sorted(payout_id for payout_id, count in mined.items() if payout_id is not None and count > 1)
    violations = [f"{len(unknown)} transfers the payout WAL never recorded, e.g. {unknown[:SHOWN]}"] if unknown else []
    violations.extend(f"payout {payout_id} mined {mined[payout_id]} times" for payout_id in twice)
    confirmed: dict[str, int] = defaultdict(int)
    for record in latest.values():
        if record.state in PAID_STATES:
            confirmed[record.address.lower()] += record.amount_wei
    gaps = []
    disagree = {a for a in confirmed.keys() | paid.keys() if confirmed.get(a, 0) != paid.get(a, 0)}
    if disagree:
        gaps.append(f"WAL-confirmed and mined amounts differ for {sorted(disagree)[:SHOWN]}")
    halted = [r for r in latest.values() if r.state is PayoutState.HALTED]
    if halted:
        gaps.append(f"halted payouts await an operator: {[(r.payout_id, r.halt_reason) for r in halted[:SHOWN]]}")
    unsettled = [r.payout_id for r in latest.values() if not r.is_terminal and r.state is not PayoutState.HALTED]
    if unsettled and not kill_switch:
        gaps.append(f"{len(unsettled)} payouts not settled, e.g. {unsettled[:SHOWN]}")
    return violations, gaps, len(unknown) + sum(mined[payout_id] - 1 for payout_id in twice)
