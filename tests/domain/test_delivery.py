from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.delivery import (
    AppliedOrigins,
    FileLedger,
    LedgerConflict,
    Origin,
    Segment,
    Verdict,
    admit,
    classify,
    is_applied,
    mark_applied,
    should_apply,
)

PROPERTY = settings(max_examples=200, deadline=None)


def admit_all(ledger: FileLedger, records: list[tuple[int, int]]) -> tuple[list[Verdict], FileLedger]:
    verdicts = []
    for position, offset in records:
        verdict, ledger = admit(ledger, position, offset)
        verdicts.append(verdict)
    return verdicts, ledger


# --- file ledger: examples ---


def test_first_record_of_a_position_is_new_and_its_redelivery_is_original() -> None:
    verdict, ledger = admit(FileLedger(), 0, 10)

    assert verdict is Verdict.NEW
    assert classify(ledger, 0, 10) is Verdict.ORIGINAL


def test_a_second_publication_of_a_file_is_duplicate() -> None:
    _, ledger = admit_all(FileLedger(), [(0, 10), (1, 11), (2, 12)])

    verdicts, _ = admit_all(ledger, [(0, 20), (1, 21), (2, 22)])

    assert verdicts == [Verdict.DUPLICATE] * 3


def test_redelivered_records_inside_a_run_are_original_even_when_other_files_interleave() -> None:
    _, ledger = admit_all(FileLedger(), [(0, 10), (1, 13), (2, 17), (3, 18)])

    assert [classify(ledger, position, offset) for position, offset in [(1, 13), (2, 17)]] == [Verdict.ORIGINAL] * 2
    assert ledger.segments == (Segment(0, 3, 10, 18),)


def test_a_redelivered_duplicate_stays_duplicate_when_two_publications_race() -> None:
    # Publication A has offsets 10, 12, 14; publication B of the same version interleaves at 11, 13, 15.
    verdicts, ledger = admit_all(FileLedger(), [(0, 10), (0, 11), (1, 12), (1, 13), (2, 14), (2, 15)])

    assert verdicts == [Verdict.NEW, Verdict.DUPLICATE] * 3
    assert [classify(ledger, position, offset) for position, offset in [(0, 11), (1, 13), (2, 15)]] == [
        Verdict.DUPLICATE
    ] * 3
    assert [classify(ledger, position, offset) for position, offset in [(0, 10), (1, 12), (2, 14)]] == [
        Verdict.ORIGINAL
    ] * 3


def test_a_publication_resumed_after_a_crash_applies_only_the_positions_not_yet_applied() -> None:
    _, ledger = admit_all(FileLedger(), [(0, 10), (1, 11)])

    verdicts, ledger = admit_all(ledger, [(0, 30), (1, 31), (2, 32), (3, 33)])

    assert verdicts == [Verdict.DUPLICATE, Verdict.DUPLICATE, Verdict.NEW, Verdict.NEW]
    assert ledger.segments == (Segment(0, 1, 10, 11), Segment(2, 3, 32, 33))


def test_a_publication_starting_past_a_gap_does_not_claim_the_positions_in_the_gap() -> None:
    _, ledger = admit_all(FileLedger(), [(0, 10), (3, 11)])

    verdict, _ = admit(ledger, 1, 12)

    assert verdict is Verdict.NEW


def test_ledger_keeps_one_segment_per_publication_run_however_often_a_file_is_replayed() -> None:
    _, ledger = admit_all(FileLedger(), [(position, position) for position in range(20)])  # bridge crashed
    _, ledger = admit_all(ledger, [(position, 100 + position) for position in range(50)])  # published again
    _, ledger = admit_all(ledger, [(position, 200 + position) for position in range(50)])  # archive replay

    assert ledger.segments == (Segment(0, 19, 0, 19), Segment(20, 49, 120, 149))


def test_redeliveries_never_change_the_ledger_and_a_whole_republication_changes_it_once() -> None:
    first_run = [(position, position) for position in range(20)]  # the bridge crashed after position 19
    second_run = [(position, 100 + position) for position in range(50)]
    _, ledger = admit_all(FileLedger(), first_run + second_run)

    redelivered = [admit(ledger, position, offset)[1] for position, offset in first_run + second_run]
    republished = []
    for position in range(50):
        _, ledger = admit(ledger, position, 200 + position)
        republished.append(ledger)

    assert set(redelivered) == {redelivered[0]}
    assert len(set(republished)) == 1
    assert republished[0] != redelivered[0]


def test_a_record_contradicting_the_ledger_is_a_conflict() -> None:
    _, ledger = admit_all(FileLedger(), [(0, 10), (1, 11)])

    with pytest.raises(LedgerConflict):
        classify(ledger, 5, 11)


@pytest.mark.parametrize(
    ("verdict", "applied_offset", "offset", "expected"),
    [
        (Verdict.NEW, -1, 5, True),
        (Verdict.NEW, 5, 5, False),
        (Verdict.ORIGINAL, 4, 5, True),
        (Verdict.ORIGINAL, 7, 5, False),
        (Verdict.DUPLICATE, -1, 5, False),
    ],
)
def test_a_state_takes_a_record_once_and_never_a_duplicate(
    verdict: Verdict, applied_offset: int, offset: int, expected: bool
) -> None:
    assert should_apply(verdict, applied_offset, offset) is expected


# --- file ledger: exactly-once under any publication, interleaving and crash pattern ---


@dataclass
class Store:
    """A table value persisted on its own: a history of writes, each made while processing one offset."""

    writes: list[tuple[int, object]] = field(default_factory=list)

    def current(self, default: object) -> object:
        return self.writes[-1][1] if self.writes else default

    def write(self, offset: int, value: object) -> None:
        self.writes.append((offset, value))

    def lose_writes_from(self, offset: int) -> None:
        self.writes = [(o, value) for o, value in self.writes if o < offset]


@dataclass(frozen=True)
class ToyCounter:
    applied_offset: int
    counts: tuple[tuple[tuple[int, int], int], ...]


@st.composite
def publication_logs(draw: st.DrawFn) -> tuple[list[tuple[int, int]], set[tuple[int, int]]]:
    """A partition log: several files, each published zero or more times, possibly partially, interleaved."""
    files = draw(st.lists(st.sets(st.integers(0, 12), min_size=1, max_size=8).map(sorted), min_size=1, max_size=3))
    publications = []
    for _ in range(draw(st.integers(1, 6))):
        file = draw(st.integers(0, len(files) - 1))
        start = draw(st.integers(0, len(files[file]) - 1))
        stop = draw(st.integers(start + 1, len(files[file])))
        publications.append([(file, position) for position in files[file][start:stop]])
    tokens = [index for index, records in enumerate(publications) for _ in records]
    cursors = [0] * len(publications)
    log = []
    for index in draw(st.permutations(tokens)):
        log.append(publications[index][cursors[index]])
        cursors[index] += 1
    return log, {record for records in publications for record in records}


@PROPERTY
@given(publication_logs(), st.data())
def test_every_position_of_every_file_is_applied_exactly_once_across_republication_and_crashes(
    publication_log: tuple[list[tuple[int, int]], set[tuple[int, int]]], data: st.DataObject
) -> None:
    log, published = publication_log
    ledgers: dict[int, Store] = {}
    state = Store()
    empty_state = ToyCounter(-1, ())

    def process(offset: int) -> None:
        file, position = log[offset]
        ledger_store = ledgers.setdefault(file, Store())
        ledger = ledger_store.current(FileLedger())
        assert isinstance(ledger, FileLedger)
        verdict, updated = admit(ledger, position, offset)
        if updated != ledger:
            ledger_store.write(offset, updated)
        counter = state.current(empty_state)
        assert isinstance(counter, ToyCounter)
        if should_apply(verdict, counter.applied_offset, offset):
            counts = Counter(dict(counter.counts))
            counts[(file, position)] += 1
            state.write(offset, ToyCounter(offset, tuple(sorted(counts.items()))))

    committed = next_offset = 0
    for _ in range(data.draw(st.integers(0, 4), label="crashes")):
        crash_at = data.draw(st.integers(next_offset, len(log)), label="crash at")
        for offset in range(next_offset, crash_at):
            process(offset)
        committed = data.draw(st.integers(committed, crash_at), label="committed offset")
        for store in [state, *ledgers.values()]:
            store.lose_writes_from(data.draw(st.integers(committed, crash_at), label="persisted through"))
        next_offset = committed
    for offset in range(next_offset, len(log)):
        process(offset)

    final = state.current(empty_state)
    assert isinstance(final, ToyCounter)
    assert dict(final.counts) == dict.fromkeys(published, 1)


@PROPERTY
@given(publication_logs())
def test_a_file_ledger_round_trips_through_json_exactly(
    publication_log: tuple[list[tuple[int, int]], set[tuple[int, int]]],
) -> None:
    log, _ = publication_log
    ledger = FileLedger()
    for offset, (file, position) in enumerate(log):
        if file == 0:
            _, ledger = admit(ledger, position, offset)

    assert FileLedger.from_json(json.loads(json.dumps(ledger.to_json()))) == ledger


# --- forwarded-job dedup for stage 2 ---


def test_a_forwarded_job_at_or_before_the_last_applied_origin_of_its_partition_key_is_a_duplicate() -> None:
    applied = mark_applied(AppliedOrigins(), "us-central|ai", Origin(70, 1))

    assert is_applied(applied, "us-central|ai", Origin(70, 1))
    assert is_applied(applied, "us-central|ai", Origin(70, 0))
    assert is_applied(applied, "us-central|ai", Origin(12, 5))
    assert not is_applied(applied, "us-central|ai", Origin(70, 2))
    assert not is_applied(applied, "us-central|ai", Origin(71, 0))
    assert not is_applied(applied, "eu-central|transcode", Origin(0, 0))


def test_marking_an_older_origin_does_not_lower_the_mark() -> None:
    applied = mark_applied(AppliedOrigins(), "us-central|ai", Origin(70, 1))

    assert mark_applied(applied, "us-central|ai", Origin(69, 3)) == applied


@PROPERTY
@given(
    st.lists(
        st.tuples(st.sampled_from(["us-central|ai", "us-west|transcode", "oceania|transcode"]), st.integers(1, 3)),
        max_size=30,
    ),
    st.data(),
)
def test_replayed_forwarded_jobs_are_applied_once(events: list[tuple[str, int]], data: st.DataObject) -> None:
    """Each source record (offset = its index) of a partition key forwards a few jobs; stage 1 replays suffixes."""
    forwarded = [(key, Origin(offset, index)) for offset, (key, jobs) in enumerate(events) for index in range(jobs)]
    delivered: list[tuple[str, Origin]] = []
    resume = 0
    for _ in range(data.draw(st.integers(0, 3), label="crashes")):
        crash = data.draw(st.integers(resume, len(forwarded)), label="crash at")
        delivered += forwarded[resume:crash]
        resume = data.draw(st.integers(0, crash), label="stage 1 forwards again from")
    delivered += forwarded[resume:]

    applied = AppliedOrigins()
    taken = []
    for key, origin in delivered:
        if not is_applied(applied, key, origin):
            taken.append((key, origin))
            applied = mark_applied(applied, key, origin)

    assert taken == forwarded
    assert AppliedOrigins.from_json(json.loads(json.dumps(applied.to_json()))) == applied
