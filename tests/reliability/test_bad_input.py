"""Fuzzing the bridge with malformed files and events, through the real bridge process into the real broker.

Every run checks the whole promise: the bridge finishes in bounded time with exit 0; each good element is
published exactly once with its source position and ID; each bad element (or unreadable file) is exactly
one dead letter with the reason the contract gives; `openpool dlq count` agrees.

The corpus is checked against the contract on its own first, so a failure of the run points at the
bridge, not at the corpus.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from openpool.domain.event_files import SourceKey, parse_event_file
from tests.pipeline_process import PipelineProcess
from tests.reliability.bad_input import FAST, SLOW, Corpus, Scale, corpus

REPORTS = Path(__file__).resolve().parents[2] / ".openpool" / "reliability"


@dataclass(frozen=True)
class FuzzReport:
    scale: str
    files: int
    megabytes: float
    malformed_cases: int
    good_events: int
    bridge_seconds: float
    kinds: dict[str, int]


def assert_the_contract_agrees(fuzz: Corpus) -> None:
    for file in fuzz.files:
        source = SourceKey.parse(file.key)
        if source is None:
            assert file.file_reason == "unrecognised_key", file.key
            continue
        parsed = parse_event_file(source, file.body)
        assert {e.position: e.event.id for e in parsed.events} == dict(file.accepted), file.kind
        refused = {r.position: r.reason for r in parsed.rejections}
        assert refused == ({None: file.file_reason} if file.file_reason else dict(file.refused)), file.kind


async def fuzz_the_bridge(pipeline: PipelineProcess, fuzz: Corpus, scale: str, timeout: float) -> FuzzReport:
    await pipeline.upload({file.key: file.body for file in fuzz.files})
    started = time.monotonic()
    done = pipeline.openpool("bridge", "--once", timeout=timeout)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]

    topics = pipeline.settings.topics
    published: Counter[tuple[str, int]] = Counter()
    ids: dict[tuple[str, int], str] = {}
    for record in await pipeline.read(topics.events):
        headers = {name: value.decode() for name, value in record.headers}
        where = (headers["source_key"], int(headers["position"]))
        published[where] += 1
        ids[where] = headers["event_id"]
        assert json.loads(record.value)["ID"] == headers["event_id"]
    assert [where for where, n in published.items() if n > 1] == []
    assert ids == fuzz.expected_published()

    letters = await pipeline.dead_letters()
    dead = Counter((letter["source_key"], letter["position"]) for letter in letters)
    assert [where for where, n in dead.items() if n > 1] == []
    assert all(letter["reason"] and letter["stage"] == "bridge" for letter in letters)
    assert {(d["source_key"], d["position"]): d["reason"] for d in letters} == fuzz.expected_dead_letters()

    counted = pipeline.openpool_json("dlq", "count", "--json")
    assert (counted["counts"], counted["total"]) == (dict(fuzz.reasons()), fuzz.malformed_cases)

    report = FuzzReport(
        scale=scale,
        files=len(fuzz.files),
        megabytes=round(fuzz.size / 2**20, 1),
        malformed_cases=fuzz.malformed_cases,
        good_events=fuzz.good_events,
        bridge_seconds=round(seconds, 1),
        kinds=dict(fuzz.kinds().most_common()),
    )
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"bad-input-{scale}.json").write_text(json.dumps(asdict(report), indent=2))
    return report


@pytest.mark.parametrize(
    ("scale", "seed"),
    [pytest.param(FAST, 2, id="fast"), pytest.param(SLOW, 3, id="slow", marks=pytest.mark.slow)],
)
def test_the_corpus_expects_what_the_contract_gives(scale: Scale, seed: int) -> None:
    assert_the_contract_agrees(corpus(seed, scale))


@pytest.mark.integration
async def test_a_few_hundred_bad_inputs_are_each_dead_lettered_and_every_good_event_published(
    pipeline: PipelineProcess,
) -> None:
    fuzz = corpus(2, FAST)
    assert fuzz.malformed_cases >= 200
    report = await fuzz_the_bridge(pipeline, fuzz, "fast", timeout=60)
    assert report.bridge_seconds < 60


@pytest.mark.integration
@pytest.mark.slow
async def test_ten_thousand_bad_inputs_and_several_mib_files_neither_crash_nor_stall_the_bridge(
    pipeline: PipelineProcess,
) -> None:
    fuzz = corpus(3, SLOW)
    assert fuzz.malformed_cases >= 10_000
    assert max(len(file.body) for file in fuzz.files) >= 3 * 2**20
    await fuzz_the_bridge(pipeline, fuzz, "slow", timeout=900)
