from __future__ import annotations

from collections import Counter

from openpool.dlq.redrive import Republish, redrive_marker
from openpool.dlq.selection import CountBy, Selection, count_by, select
from openpool.dlq.stored import StoredLetter
from tests.dlq.letters import AT, SOURCE_KEY, good_job, processing_failed, refused_element, stored

OTHER_KEY = SOURCE_KEY.replace("us-central", "eu-central")


def letters() -> list[StoredLetter]:
    refused = stored(refused_element(good_job(), "wrong_type:fees"))
    return [
        refused,
        stored(refused_element(good_job(), "invalid_address", source_key=OTHER_KEY)),
        stored(refused_element(good_job(), "wrong_type:fees", stage="stream", source_key=OTHER_KEY)),
        stored(processing_failed(b"{}", "app.attributed-jobs/2", 9)),
        stored(redrive_marker(Republish(refused, ()), [("app.events", 1, 5)], AT)),
    ]


def test_a_selection_filters_by_reason_stage_and_source_key_prefix() -> None:
    found = letters()
    assert select(found, Selection(reason="wrong_type:fees")) == [found[0], found[2]]
    assert select(found, Selection(reason="wrong_type:fees", stage="stream")) == [found[2]]
    assert select(found, Selection(source_prefix="eu-central/")) == [found[1], found[2]]
    assert select(found, Selection(), limit=2) == found[:2]


def test_redrive_markers_are_left_out_unless_their_reason_is_asked_for() -> None:
    found = letters()
    assert found[-1] not in select(found, Selection())
    assert select(found, Selection(reason="redriven")) == [found[-1]]


def test_counts_group_by_reason_stage_or_source_key() -> None:
    found = select(letters(), Selection())
    assert count_by(found, CountBy.REASON) == Counter(
        {"wrong_type:fees": 2, "invalid_address": 1, "processing_failed": 1}
    )
    assert count_by(found, CountBy.STAGE) == Counter({"bridge": 2, "stream": 1, "fees": 1})
    assert count_by(found, CountBy.SOURCE) == Counter({SOURCE_KEY: 1, OTHER_KEY: 2, "app.attributed-jobs/2": 1})
