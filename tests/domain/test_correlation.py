from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain.correlation import (
    CorrelationPolicy,
    CorrelationState,
    ExpiryBucket,
    Head,
    Outcomes,
    Pending,
    UnattributedFees,
    UnmatchedReceived,
    attribute,
    bucket_start,
    step,
)
from openpool.domain.event_files import parse_event_object
from openpool.domain.events import AIJobProcessedPayload, Event, JobReceivedPayload
from openpool.domain.jobs import AttributedJob
from openpool.settings import load_settings
from tests.domain import envelopes

PROPERTY = settings(max_examples=200, deadline=None)
T0 = datetime(2025, 11, 5, 16, 0, tzinfo=UTC)
ALICE = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
BOB = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
CAROL = "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"
POLICY = CorrelationPolicy(match_window=timedelta(seconds=600), ttl=timedelta(seconds=3600))
_ids = count(1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def parsed(document: dict[str, Any], seconds: float, event_id: str | None) -> Event:
    stamped = document | {"DT": at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ"), "ID": event_id or new_id()}
    event = parse_event_object(stamped)
    assert isinstance(event, Event), event
    return event


def new_id() -> str:
    return str(uuid.UUID(int=next(_ids)))


def received(request_id: str, seconds: float, worker: str = ALICE, event_id: str | None = None) -> Event:
    return parsed(envelopes.job_received(requestID=request_id, ethAddress=worker), seconds, event_id)


def processed(request_id: str, seconds: float, fees: int = 4_999_999_389_696, event_id: str | None = None) -> Event:
    return parsed(envelopes.ai_job_processed(requestID=request_id, fees=fees), seconds, event_id)


def connected(seconds: float) -> Event:
    return parsed(envelopes.worker_connected() | {"NodeType": "ai"}, seconds, None)


def run(
    events: Iterable[Event], policy: CorrelationPolicy = POLICY, state: CorrelationState | None = None
) -> tuple[CorrelationState, Outcomes]:
    """Apply events in order; the outcomes of all of them together."""
    state = state or CorrelationState()
    attributed: list[AttributedJob] = []
    unattributed: list[UnattributedFees] = []
    unmatched: list[UnmatchedReceived] = []
    for event in events:
        state, outcomes = attribute(state, event, policy)
        attributed.extend(outcomes.attributed)
        unattributed.extend(outcomes.unattributed)
        unmatched.extend(outcomes.unmatched)
    return state, Outcomes(tuple(attributed), tuple(unattributed), tuple(unmatched))


def is_empty(state: CorrelationState) -> bool:
    return not state.received and not state.processed


# --- matching ---


def test_a_received_job_waits_for_its_processed_partner_and_the_match_names_the_worker() -> None:
    job = processed("3f9a0c1e", 1)
    state, outcomes = run([received("3f9a0c1e", 0, BOB), job])

    [attributed] = outcomes.attributed
    assert (attributed.event_id, attributed.worker_address, attributed.fees_wei) == (job.id, BOB, 4_999_999_389_696)
    assert is_empty(state)


def test_a_processed_job_arriving_before_its_partner_is_held_then_attributed_when_the_partner_arrives() -> None:
    job = processed("3f9a0c1e", 1)
    held, outcomes = run([job])
    assert outcomes == Outcomes()
    assert held.held_fees_wei == 4_999_999_389_696

    state, outcomes = run([received("3f9a0c1e", 0, BOB)], state=held)

    assert [(j.event_id, j.worker_address) for j in outcomes.attributed] == [(job.id, BOB)]
    assert is_empty(state)


def test_a_stale_received_entry_never_attributes_a_new_job_to_its_worker() -> None:
    stale = received("3f9a0c1e", 0, ALICE)
    late_job = processed("3f9a0c1e", 601)

    state, outcomes = run([stale, late_job])
    assert outcomes == Outcomes()

    state, outcomes = run([received("3f9a0c1e", 600, BOB)], state=state)
    assert [(j.event_id, j.worker_address) for j in outcomes.attributed] == [(late_job.id, BOB)]
    assert [e.id for e in state.received["3f9a0c1e"]] == [stale.id]


def test_among_several_candidates_the_closest_in_time_is_matched() -> None:
    _, outcomes = run([received("3f9a0c1e", 0, ALICE), received("3f9a0c1e", 100, BOB), processed("3f9a0c1e", 60)])

    assert [j.worker_address for j in outcomes.attributed] == [BOB]


def test_equally_close_candidates_go_to_the_earlier_one_then_the_smaller_event_id() -> None:
    _, earlier = run([received("3f9a0c1e", 80, BOB), received("3f9a0c1e", 40, ALICE), processed("3f9a0c1e", 60)])
    same_second = [
        received("3f9a0c1e", 50, ALICE, event_id="00000000-0000-4000-8000-000000000002"),
        received("3f9a0c1e", 50, BOB, event_id="00000000-0000-4000-8000-000000000001"),
        processed("3f9a0c1e", 60),
    ]
    _, by_id = run(same_second)

    assert [j.worker_address for j in earlier.attributed] == [ALICE]
    assert [j.worker_address for j in by_id.attributed] == [BOB]


def test_a_match_consumes_both_halves() -> None:
    state, _ = run([received("3f9a0c1e", 0), processed("3f9a0c1e", 1)])

    state, outcomes = run([processed("3f9a0c1e", 2)], state=state)

    assert outcomes == Outcomes()
    assert list(state.processed) == ["3f9a0c1e"]


def test_halves_waiting_under_one_request_id_are_kept_in_event_time_order_whatever_their_arrival() -> None:
    halves = [received("3f9a0c1e", 50, ALICE), received("3f9a0c1e", 10, BOB), received("3f9a0c1e", 30, CAROL)]

    state, _ = run(halves)

    assert state == run(reversed(halves))[0]
    assert [e.dt for e in state.received["3f9a0c1e"]] == [at(10), at(30), at(50)]


def test_reapplying_a_waiting_half_changes_nothing() -> None:
    job, request = processed("aaaaaaaa", 0), received("bbbbbbbb", 0)
    state, _ = run([job, request])

    again, outcomes = run([job, request], state=state)

    assert outcomes == Outcomes()
    assert again == state


def test_transcode_jobs_are_attributed_by_their_own_address() -> None:
    event = parse_event_object(envelopes.transcode_job_processed(ethAddress=CAROL))
    assert isinstance(event, Event)

    state, outcomes = attribute(CorrelationState(), event, POLICY)

    assert [(j.worker_address, j.fees_wei, j.response_time_ns) for j in outcomes.attributed] == [
        (CAROL, 90305280000, 812_000_000)
    ]
    assert is_empty(state)


# --- expiry in event time ---


def test_a_processed_job_unclaimed_past_the_ttl_becomes_unattributed_fees() -> None:
    job = processed("3f9a0c1e", 0, fees=7_873_894_400)
    state, outcomes = run([job, processed("00000001", 3600)])
    assert outcomes == Outcomes()

    state, outcomes = run([processed("00000002", 3601)], state=state)

    assert outcomes == Outcomes(
        unattributed=(
            UnattributedFees(job.id, "3f9a0c1e", 7_873_894_400, at(0), "text-to-image", "ByteDance/SDXL-Lightning"),
        )
    )
    assert "3f9a0c1e" not in state.processed


def test_a_received_job_never_processed_expires_as_unmatched_for_its_worker() -> None:
    request = received("3f9a0c1e", 0, BOB)

    _, outcomes = run([request, received("00000001", 3601)])

    assert outcomes == Outcomes(
        unmatched=(UnmatchedReceived(request.id, "3f9a0c1e", BOB, at(0), "text-to-image", "ByteDance/SDXL-Lightning"),)
    )


def test_halves_expiring_together_are_reported_in_event_time_order() -> None:
    later, earlier = processed("0000000b", 20), processed("0000000a", 10)
    state, _ = run([received("0000000d", 25), received("0000000c", 15), later, earlier])

    _, outcomes = run([connected(4000)], state=state)

    assert [u.event_id for u in outcomes.unattributed] == [earlier.id, later.id]
    assert [u.dt for u in outcomes.unmatched] == [at(15), at(25)]


def test_event_time_of_any_partition_event_expires_waiting_halves() -> None:
    _, outcomes = run([processed("3f9a0c1e", 0), connected(3601)])

    assert len(outcomes.unattributed) == 1
    assert outcomes.attributed == outcomes.unmatched == ()


def test_a_late_half_still_matches_a_waiting_partner_far_behind_the_watermark() -> None:
    state, _ = run([received("3f9a0c1e", 1000, BOB), connected(4500)])

    _, outcomes = run([processed("3f9a0c1e", 900)], state=state)

    assert [j.worker_address for j in outcomes.attributed] == [BOB]


def test_a_late_half_whose_partner_already_expired_is_accounted_at_once() -> None:
    state, expired = run([received("3f9a0c1e", 0, BOB), connected(4000)])
    late = processed("3f9a0c1e", 10)

    state, outcomes = run([late], state=state)

    assert len(expired.unmatched) == 1
    assert [outcome.event_id for outcome in outcomes.unattributed] == [late.id]
    assert is_empty(state)


def test_a_policy_whose_ttl_is_shorter_than_its_match_window_is_refused() -> None:
    with pytest.raises(ValueError, match="TTL"):
        CorrelationPolicy(match_window=timedelta(seconds=600), ttl=timedelta(seconds=599))


def test_the_policy_comes_from_the_settings() -> None:
    policy = CorrelationPolicy.from_settings(
        load_settings(OPENPOOL_CORRELATION_MATCH_WINDOW_SECONDS=30, OPENPOOL_CORRELATION_TTL_SECONDS=90)
    )

    assert policy == CorrelationPolicy(match_window=timedelta(seconds=30), ttl=timedelta(seconds=90))


# --- properties ---

WORKERS = st.sampled_from([ALICE, BOB, CAROL])


@st.composite
def unique_request_jobs(draw: st.DrawFn) -> list[Event]:
    """Jobs with distinct requestIDs; some lack a half, some halves lie outside the match window."""
    events = []
    for index in range(draw(st.integers(1, 8))):
        request_id = f"{index:08x}"
        sent = draw(st.integers(0, 3000))
        lag = draw(st.integers(-900, 900))
        halves = draw(st.sampled_from(["both", "both", "received", "processed"]))
        if halves in ("both", "received"):
            events.append(received(request_id, sent, draw(WORKERS)))
        if halves in ("both", "processed"):
            events.append(processed(request_id, sent + lag, draw(st.integers(0, 10**18))))
    return events


@st.composite
def colliding_jobs(draw: st.DrawFn) -> list[Event]:
    """Halves of many jobs that share a few requestIDs, at any times and in any order."""
    request_ids = st.sampled_from(["0000000a", "0000000b", "0000000c"])
    halves = st.one_of(
        st.builds(received, request_ids, st.integers(0, 10_000), WORKERS),
        st.builds(processed, request_ids, st.integers(0, 10_000), st.integers(0, 10**18)),
    )
    return draw(st.lists(halves, max_size=25))


def expected_matches(events: list[Event]) -> set[tuple[str, str]]:
    received_by_request = {e.payload.request_id: e for e in events if isinstance(e.payload, JobReceivedPayload)}
    return {
        (event.id, partner.payload.eth_address)
        for event in events
        if isinstance(event.payload, AIJobProcessedPayload)
        and (partner := received_by_request.get(event.payload.request_id)) is not None
        and isinstance(partner.payload, JobReceivedPayload)
        and abs(event.dt - partner.dt) <= POLICY.match_window
    }


@PROPERTY
@given(unique_request_jobs().flatmap(lambda events: st.tuples(st.just(events), st.permutations(events))))
def test_any_arrival_order_yields_the_same_jobs_and_the_same_waiting_halves(
    orders: tuple[list[Event], list[Event]],
) -> None:
    emitted, arrived = orders
    long_ttl = CorrelationPolicy(match_window=timedelta(seconds=600), ttl=timedelta(days=1))

    state_in_order, in_order = run(emitted, long_ttl)
    state_shuffled, shuffled = run(arrived, long_ttl)

    assert {(j.event_id, j.worker_address) for j in shuffled.attributed} == expected_matches(emitted)
    assert set(shuffled.attributed) == set(in_order.attributed)
    assert waiting_halves(state_shuffled) == waiting_halves(state_in_order)


@PROPERTY
@given(
    colliding_jobs(),
    st.integers(60, 600).flatmap(lambda window: st.tuples(st.just(window), st.integers(window, 4 * window))),
)
def test_every_wei_and_every_received_job_is_accounted_for(
    events: list[Event], window_and_ttl: tuple[int, int]
) -> None:
    window, ttl = window_and_ttl
    policy = CorrelationPolicy(match_window=timedelta(seconds=window), ttl=timedelta(seconds=ttl))

    state, outcomes = run(events, policy)

    attributed, expired_jobs, expired_requests = outcomes.attributed, outcomes.unattributed, outcomes.unmatched
    processed_in = [event for event in events if isinstance(event.payload, AIJobProcessedPayload)]
    received_in = [event for event in events if isinstance(event.payload, JobReceivedPayload)]
    fees_in = sum(event.payload.fees for event in events if isinstance(event.payload, AIJobProcessedPayload))
    assert fees_in == (
        sum(j.fees_wei for j in attributed) + state.held_fees_wei + sum(u.fees_wei for u in expired_jobs)
    )
    held_ids = [event.id for events in state.processed.values() for event in events]
    assert sorted([j.event_id for j in attributed] + held_ids + [u.event_id for u in expired_jobs]) == sorted(
        event.id for event in processed_in
    )
    waiting = sum(len(events) for events in state.received.values())
    assert len(received_in) == len(attributed) + waiting + len(expired_requests)


@PROPERTY
@given(colliding_jobs())
def test_reapplying_any_waiting_half_is_a_no_op(events: list[Event]) -> None:
    state, _ = run(events)
    waiting = [event for halves in (state.received, state.processed) for events in halves.values() for event in events]

    again, outcomes = run(waiting, state=state)

    assert outcomes == Outcomes()
    assert again == state


@PROPERTY
@given(colliding_jobs())
def test_every_stored_value_round_trips_through_json_exactly(events: list[Event]) -> None:
    state, _ = run(events)

    def through_json(value: Any) -> Any:
        return json.loads(json.dumps(value.to_json()))

    assert Head.from_json(through_json(state.head)) == state.head
    for pending in state.pending_by_request.values():
        assert Pending.from_json(through_json(pending)) == pending
    for bucket in state.buckets.values():
        assert ExpiryBucket.from_json(through_json(bucket)) == bucket


@PROPERTY
@given(colliding_jobs(), st.integers(60, 600))
def test_every_waiting_half_is_in_the_expiry_index_and_the_head_counts_them(events: list[Event], ttl: int) -> None:
    state, _ = run(events, CorrelationPolicy(match_window=timedelta(seconds=60), ttl=timedelta(seconds=ttl)))

    indexed = {(request_id, dt) for bucket in state.buckets.values() for request_id, dt in bucket.entries}
    for request_id, pending in state.pending_by_request.items():
        assert {(request_id, e.dt) for e in (*pending.received, *pending.processed)} <= indexed
    assert set(state.buckets) == set(state.head.buckets)
    assert state.head.held_jobs == sum(len(events) for events in state.processed.values())
    assert state.head.waiting_received == sum(len(events) for events in state.received.values())


def test_once_event_time_passes_the_ttl_nothing_is_left_not_even_matched_halves_index_entries() -> None:
    events = [processed(f"{n:08x}", n) for n in range(50)] + [received(f"{n:08x}", n + 1) for n in range(50)]
    state, outcomes = run([*events, connected(10_000)])

    assert len(outcomes.attributed) == 50
    assert state == CorrelationState(head=Head(watermark=at(10_000)))


class CountingReads:
    def __init__(self, state: CorrelationState) -> None:
        self.state = state
        self.reads: list[str | int] = []

    def pending(self, request_id: str) -> Pending:
        self.reads.append(request_id)
        return self.state.pending(request_id)

    def bucket(self, start: int) -> ExpiryBucket:
        self.reads.append(start)
        return self.state.bucket(start)


def test_an_event_reads_only_its_own_request_and_bucket_however_many_halves_wait() -> None:
    state, _ = run(processed(f"{n:08x}", n / 10) for n in range(2_000))
    matching, waiting = CountingReads(state), CountingReads(state)

    matched = step(state.head, received("00000007", 150), POLICY, matching)
    waits = step(state.head, received("ffffffff", 150), POLICY, waiting)

    assert [job.event_id for job in matched.outcomes.attributed] == [state.processed["00000007"][0].id]
    assert matching.reads == ["00000007"]
    assert waiting.reads == ["ffffffff", bucket_start(at(150))]
    assert (len(matched.pending), len(matched.buckets), len(waits.pending), len(waits.buckets)) == (1, 0, 1, 1)


def test_an_event_writes_only_the_values_it_changed() -> None:
    waiting = processed("0000000a", 15)
    state, _ = run([waiting])

    repeated = step(state.head, waiting, POLICY, state)
    scanned = step(state.head, connected(3_612), POLICY, state)  # bucket 10 s is read: its half is not due yet

    assert (dict(repeated.pending), dict(repeated.buckets)) == ({}, {})
    assert (dict(scanned.pending), dict(scanned.buckets), scanned.outcomes) == ({}, {}, Outcomes())


def test_an_event_that_moves_event_time_past_the_ttl_reads_the_expiring_requests_only() -> None:
    state, _ = run(processed(f"{n:08x}", n / 10) for n in range(2_000))
    reads = CountingReads(state)

    change = step(state.head, connected(3_650), POLICY, reads)

    assert {u.request_id for u in change.outcomes.unattributed} == {f"{n:08x}" for n in range(500)}
    assert len([read for read in reads.reads if isinstance(read, str)]) == 500
    assert len([read for read in reads.reads if isinstance(read, int)]) == 5


def waiting_halves(state: CorrelationState) -> tuple[Any, ...]:
    """The state as correlation sees it; index entries of matched halves linger until their bucket expires."""
    return (state.head.watermark, dict(state.received), dict(state.processed), state.held_fees_wei)
