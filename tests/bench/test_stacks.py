from __future__ import annotations

import pytest

from openpool.bench.stacks import component, frame_label, parse_collapsed, short_file, summarise_stacks

SITE = "/work/main/.venv/lib/python3.11/site-packages"
STDLIB = "/root/.pyenv/versions/3.11.7/lib/python3.11"


@pytest.mark.parametrize(
    ("path", "short"),
    [
        (f"{SITE}/faust/tables/base.py", "faust/tables/base.py"),
        (f"{STDLIB}/json/decoder.py", "json/decoder.py"),
        ("/work/main/stream_app/agents/fees.py", "stream_app/agents/fees.py"),
        ("stream_app/agents/fees.py", "stream_app/agents/fees.py"),
        ("<string>", "<string>"),
    ],
)
def test_files_are_named_as_a_reader_recognises_them(path: str, short: str) -> None:
    assert short_file(path) == short


def test_components_group_libraries_and_our_packages() -> None:
    assert component("faust/tables/base.py:Table._set") == "faust"
    assert component("selectors.py:EpollSelector.select") == "selectors"
    assert component("stream_app/agents/fees.py:handle") == "stream_app.agents"
    assert component("openpool/domain/events.py:Event.to_envelope") == "openpool.domain"


def test_self_time_is_the_leaf_and_our_code_is_counted_once_per_stack() -> None:
    lines = [
        f"run (/work/main/stream_app/worker.py:10);handle (/work/main/stream_app/agents/fees.py:5);"
        f"loads ({STDLIB}/json/__init__.py:1);raw_decode ({STDLIB}/json/decoder.py:2) 3",
        "run (/work/main/stream_app/worker.py:10);handle (/work/main/stream_app/agents/fees.py:5) 1",
        f"select ({STDLIB}/selectors.py:9) 4",
        "garbage line",
    ]
    samples, components, top_self, inclusive = summarise_stacks(parse_collapsed(lines))
    assert samples == 8
    assert top_self[0].function == "selectors.py:select" and top_self[0].share == 0.5
    assert {share.function: share.share for share in components}["json"] == 3 / 8
    own = {share.function: share.share for share in inclusive}
    assert own == {"stream_app/agents/fees.py:handle": 0.5}  # the entry point `worker.py:run` says nothing


def test_a_frame_that_does_not_parse_keeps_its_text() -> None:
    assert frame_label("<unknown>") == "<unknown>"
