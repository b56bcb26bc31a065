"""`fast_json.dumps`/`loads` for table values: JSON on the wire, big integers intact, json.loads's answers."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openpool.domain import event_files
from openpool.domain.fast_json import (
    MAX_NESTING,
    RECORD_MAX_BRACKETS,
    TABLE_MAX_BRACKETS,
    dumps,
    fast_path_safe,
    loads,
    loads_bounded,
)

_SETTINGS = settings(max_examples=200, deadline=None)

plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


def _outcome(decode: Any, data: bytes | str) -> tuple[str, Any]:
    try:
        return "ok", decode(data)
    except (ValueError, RecursionError) as error:
        return type(error).__name__, None


def _same_json(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and every float's sign and type kept (iterative: values nest 1000 deep)."""
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if not ((math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1, x) == math.copysign(1, y))):
                return False
        elif isinstance(x, dict):
            if list(x) != list(y):
                return False
            pending += [(x[key], y[key]) for key in x]
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            pending += zip(x, y, strict=True)
        elif x != y:
            return False
    return True


def _mutated(body: bytes) -> st.SearchStrategy[bytes]:
    return st.tuples(st.integers(0, len(body)), st.binary(min_size=0, max_size=3), st.integers(0, 2)).map(
        lambda edit: body[: edit[0]] + edit[1] + body[edit[0] + edit[2] :]
    )


def test_amounts_past_two_to_the_64_round_trip() -> None:
    value = {"fees_wei": 2**64 + 1, "total": 10**40, "negative": -(2**200), "list": [2**63, 2**64, 2**65]}
    assert loads(dumps(value)) == value
    assert json.loads(dumps(value)) == value
    assert loads(json.dumps(value).encode()) == value


@_SETTINGS
@given(plain)
def test_plain_data_round_trips_and_reads_like_json_dumps_output(value: Any) -> None:
    assert _same_json(loads(dumps(value)), json.loads(json.dumps(value)))
    assert _same_json(json.loads(dumps(value)), json.loads(json.dumps(value)))
    for written in (json.dumps(value), json.dumps(value, ensure_ascii=False), json.dumps(value, indent=1)):
        assert _same_json(loads(written.encode()), json.loads(written))
        assert _same_json(loads(written), json.loads(written))


@_SETTINGS
@given(st.binary(max_size=60) | plain.map(lambda v: json.dumps(v).encode()).flatmap(_mutated))
def test_any_bytes_give_what_loads_bounded_gives(data: bytes) -> None:
    fast, strict = _outcome(loads, data), _outcome(loads_bounded, data)
    assert fast[0] == strict[0]
    assert _same_json(fast[1], strict[1])


@pytest.mark.parametrize(
    "data",
    [
        b"NaN",
        b"[Infinity,-Infinity]",
        b"1e999",
        b"\xef\xbb\xbf[1]",
        "[1]".encode("utf-16"),
        b'["\\ud800"]',
        b'["\xed\xa0\x80"]',
        b'{"\xff":1}',
        b"[" + b"9" * 5000 + b"]",
        b"[" + b"9" * 4300 + b"]",
        b'{"a":1,"a":2}',
        b"[" * (TABLE_MAX_BRACKETS + 1) + b"]" * (TABLE_MAX_BRACKETS + 1),
        b"[" * MAX_NESTING + b"]" * MAX_NESTING,
        b"[" * (MAX_NESTING + 1) + b"]" * (MAX_NESTING + 1),
        b"[" * 100_000,
        b"",
        b"[1,]",
        b"01",
    ],
)
def test_bodies_msgspec_does_not_read_like_json_loads_get_the_standard_librarys_answer(data: bytes) -> None:
    fast, strict = _outcome(loads, data), _outcome(loads_bounded, data)
    assert fast[0] == strict[0]
    assert _same_json(fast[1], strict[1])


def test_the_guard_refuses_what_msgspec_would_get_wrong_and_passes_ordinary_records() -> None:
    assert fast_path_safe(b'{"a":[1,2,{"b":"\xc3\xbc"}]}')
    assert not fast_path_safe(b"[" * (RECORD_MAX_BRACKETS + 1))
    assert fast_path_safe(b"[" * (RECORD_MAX_BRACKETS + 1), TABLE_MAX_BRACKETS)
    assert not fast_path_safe(b'{"a":"\xff"}')
    assert not fast_path_safe(b'{"a":' + b"1" * 641 + b"}")
    assert fast_path_safe(b'{"a":' + b"1" * 640 + b"}")


def test_the_bounded_loader_is_still_reachable_where_it_was() -> None:
    assert event_files.loads_bounded is loads_bounded
    assert event_files.MAX_NESTING == MAX_NESTING == 1000
