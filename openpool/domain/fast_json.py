"""JSON on the hot path: msgspec where it gives the answer `json.loads` gives, the standard library otherwise.

Everything stays JSON on the wire, so records and changelogs written with `json.dumps` still decode, and
integer amounts of any size round-trip (orjson refuses integers past 64 bits; msgspec does not).

msgspec is a fast path only. Before taking it, `fast_path_safe` proves three things from the bytes alone:

* Nesting is bounded. msgspec recurses on the C stack per level, bounded only by the recursion limit, which
  web3's dependencies raise to 100000: an untyped 100k-deep body segfaulted the process. Counting every `[`
  and `{` (those inside strings too) bounds the depth without parsing. Measured on CPython 3.11 with msgspec
  0.23: untyped msgspec survives about 700 levels in a thread with a 256 KiB stack (json.loads over 2000)
  and 20000 on the default 8 MiB, so both budgets below leave a wide margin.
* The body is UTF-8. msgspec skips the values of unknown fields (and `msgspec.Raw` fields) without checking
  their encoding, where `json.loads` refuses the whole body.
* No integer has more digits than `int()` converts (`sys.get_int_max_str_digits()`, never below 640):
  `json.loads` refuses the whole body for one, msgspec skips it unchecked in an unknown field.

Anything else msgspec and `json.loads` disagree on (NaN, a byte-order mark, UTF-16, lone surrogates) msgspec
refuses, so a caller that falls back to the strict path on any msgspec error gets the strict answer.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

# One pass: possessive quantifiers never backtrack, and an unterminated string runs to the end of the input,
# so the search never restarts at each later quote (which made `"\"\"\"…` quadratic).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.?)*+(?:"|$)')
_BRACKET = re.compile(rb"[\[\]{}]")
# Emitter files nest three deep. A deeper element is still parsed and rejected on its own; only nesting past
# what CPython's default recursion limit allows makes the whole file unreadable.
MAX_NESTING = 1000

RECORD_MAX_BRACKETS = 64
"""Fast-path budget for one record (an event envelope nests 2 deep, a forwarded job 2): more is junk."""
TABLE_MAX_BRACKETS = 512
"""Fast-path budget for table values, whose lists (expiry buckets, ledgers) hold many shallow entries."""

# sys.set_int_max_str_digits() refuses limits below 640 (0 means no limit), so a longer run of digits is the
# only way an integer can be past the limit, whatever it is set to.
_MIN_INT_DIGIT_LIMIT = 640
_LONG_DIGITS = re.compile(rb"[0-9]{%d}" % (_MIN_INT_DIGIT_LIMIT + 1))

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def loads_bounded(body: bytes | str) -> Any:
    """`json.loads`, refusing nesting deeper than MAX_NESTING first.

    The parser recurses per level, bounded only by the recursion limit, which web3's dependencies raise to
    100000 on import: past what the C stack holds, so a deep enough body would crash the process.
    """
    data = body.encode() if isinstance(body, str) else body
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", data)):
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > MAX_NESTING:
                raise ValueError(f"nesting deeper than {MAX_NESTING} levels")
        else:
            depth -= 1
    return json.loads(data)


def fast_path_safe(data: bytes, max_brackets: int = RECORD_MAX_BRACKETS) -> bool:
    """Whether msgspec may decode `data`: shallow, UTF-8, and without an over-long integer (module docstring).

    False only sends `data` to the strict path; it never says the data is bad.
    """
    if data.count(b"[") + data.count(b"{") > max_brackets:
        return False
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return len(data) <= _MIN_INT_DIGIT_LIMIT or _LONG_DIGITS.search(data) is None


def dumps(obj: Any) -> bytes:
    """Compact JSON of plain data: dicts with string keys, lists, tuples, str, int of any size, float, bool, None.

    Unlike `json.dumps`, non-ASCII text is written as UTF-8 rather than `\\u` escapes, and NaN and infinities
    become `null` (JSON has no such numbers); both read back with `loads` and `json.loads` alike.
    """
    return _encoder.encode(obj)


def loads(data: bytes | str) -> Any:
    """`json.loads` of plain JSON data, through msgspec when `fast_path_safe` allows and msgspec accepts it.

    Any body msgspec refuses goes to `loads_bounded`, so the result or the error is the standard library's:
    NaN and `Infinity` still decode, and a body nested past MAX_NESTING is a ValueError, never a crash (as
    with `loads_bounded`, nesting close to the recursion limit can still be a RecursionError).
    """
    raw = data.encode() if isinstance(data, str) else data
    if type(raw) is bytes and fast_path_safe(raw, TABLE_MAX_BRACKETS):
        try:
            return _decoder.decode(raw)
        except msgspec.DecodeError:
            pass
    return loads_bounded(data)
