"""Malformed event files and events, each with the outcome the contract promises for it.

Good events come from the generator (a realistic pool, with its own malformed events and broken bodies and
the reasons its manifest expects). Every crafted bad element is a good envelope with one change, so the
reason the contract must give is known here without asking the contract; standalone bad files (random
bytes, truncated JSON, deep nesting, huge integers, foreign keys, several MiB) carry one whole-file reason.

`KNOWN_BUGS` are kinds that currently crash or stall the bridge: they are kept out of the corpus and
exercised by their own tests, so the fuzz run still checks everything else.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from openpool.domain.events import INT64_MAX
from openpool.generator import GeneratorConfig, generate
from openpool.generator.emitter import Body, EventFile, file_key
from openpool.generator.pool_model import REGIONS, Partition

Envelope = dict[str, Any]
_STAMP = "%Y%m%dT%H%M%SZ"
MIB = 1024 * 1024
# Past Python's 4300-digit limit for int(): json.loads refuses the whole file.
HUGE_DIGITS = 5000
# Safely below both the contract's MAX_NESTING and any recursion limit the parsing process may run with.
SAFE_DEPTH = 400


@dataclass(frozen=True, slots=True)
class Element:
    value: Any
    reason: str | None
    """None: the contract accepts it."""
    kind: str


@dataclass(frozen=True, slots=True)
class FuzzFile:
    key: str
    body: bytes
    kind: str
    accepted: Mapping[int, str] = field(default_factory=dict)
    """Position -> event ID of each element that must be published."""
    refused: Mapping[int, str] = field(default_factory=dict)
    """Position -> reason of each element that must be dead-lettered."""
    file_reason: str | None = None
    """The whole file must become one dead letter (no position) with this reason."""
    element_kinds: Mapping[int, str] = field(default_factory=dict)

    @property
    def malformed_cases(self) -> int:
        return len(self.refused) + (self.file_reason is not None)


@dataclass(frozen=True, slots=True)
class Corpus:
    files: tuple[FuzzFile, ...]

    @property
    def malformed_cases(self) -> int:
        return sum(file.malformed_cases for file in self.files)

    @property
    def good_events(self) -> int:
        return sum(len(file.accepted) for file in self.files)

    @property
    def size(self) -> int:
        return sum(len(file.body) for file in self.files)

    def expected_published(self) -> dict[tuple[str, int], str]:
        return {(f.key, position): event_id for f in self.files for position, event_id in f.accepted.items()}

    def expected_dead_letters(self) -> dict[tuple[str, int | None], str]:
        expected: dict[tuple[str, int | None], str] = {}
        for f in self.files:
            expected.update(((f.key, position), reason) for position, reason in f.refused.items())
            if f.file_reason is not None:
                expected[(f.key, None)] = f.file_reason
        return expected

    def reasons(self) -> Counter[str]:
        return Counter(self.expected_dead_letters().values())

    def kinds(self) -> Counter[str]:
        counted: Counter[str] = Counter()
        for f in self.files:
            if f.file_reason is not None:
                counted[f.kind] += 1
            counted.update(f.element_kinds[position] for position in f.refused)
        return counted


@dataclass(frozen=True, slots=True)
class Scale:
    pool_minutes: int
    jobs_per_second: float
    bad_per_file: int
    """Crafted bad elements mixed into each generated file."""
    standalone_rounds: int
    """How many times each kind of standalone bad file is made."""
    large_files: bool


FAST = Scale(pool_minutes=2, jobs_per_second=3, bad_per_file=6, standalone_rounds=2, large_files=False)
SLOW = Scale(pool_minutes=10, jobs_per_second=20, bad_per_file=60, standalone_rounds=40, large_files=True)


def corpus(seed: int, scale: Scale) -> Corpus:
    rng = random.Random(f"bad-input/{seed}")
    data = generate(
        GeneratorConfig(
            duration=timedelta(minutes=scale.pool_minutes),
            workers=12,
            jobs_per_second=scale.jobs_per_second,
            late_rate=0,
            duplicate_rate=0,
            malformed_rate=0.02,
            broken_file_rate=0.1,
            flush_seconds=20,
        ),
        seed,
    )
    final = {upload.key: data.event_files[upload.file] for upload in data.uploads}
    generated = [_generated_file(file) for file in final.values()]
    good = [element for file in final.values() for element in _good_envelopes(file)]
    stamps = _Stamps(datetime(2026, 3, 1, tzinfo=UTC))
    files = [
        _with_bad_elements(file, scale.bad_per_file, rng) for file in final.values() if file.body_kind is Body.EVENTS
    ]
    files += [f for f in generated if f.key not in {g.key for g in files}]
    for _ in range(scale.standalone_rounds):
        files += _standalone_files(good, rng, stamps)
    if scale.large_files:
        files += _large_files(good, rng, stamps)
    return Corpus(tuple(files))


# --- generated files, as the generator's manifest sees them ---


def _generated_file(file: EventFile) -> FuzzFile:
    if file.body_kind is Body.NULL:
        return FuzzFile(file.key, file.body, "generator:null")
    if file.body_kind is Body.TRUNCATED:
        return FuzzFile(file.key, file.body, "generator:truncated", file_reason="invalid_json")
    accepted = {
        i: event_id
        for i, (e, event_id) in enumerate(zip(file.emissions, file.event_ids, strict=True))
        if e.rejection is None
    }
    refused = {i: e.rejection for i, e in enumerate(file.emissions) if e.rejection is not None}
    kinds = {i: f"generator:{reason}" for i, reason in refused.items()}
    return FuzzFile(file.key, file.body, "generator", accepted, refused, element_kinds=kinds)


def _good_envelopes(file: EventFile) -> Iterator[tuple[Partition, Envelope]]:
    if file.body_kind is not Body.EVENTS:
        return
    for envelope, emission in zip(json.loads(file.body), file.emissions, strict=True):
        if emission.rejection is None:
            yield file.partition, envelope


def _with_bad_elements(file: EventFile, count: int, rng: random.Random) -> FuzzFile:
    """The generated file with `count` crafted elements inserted at random places (fresh IDs throughout)."""
    good = list(_good_envelopes(file))
    elements = [
        Element(e, emission.rejection, f"generator:{emission.rejection}" if emission.rejection else "good")
        for e, emission in zip(json.loads(file.body), file.emissions, strict=True)
    ]
    for _ in range(count):
        partition, envelope = rng.choice(good)
        elements.insert(rng.randrange(len(elements) + 1), crafted_element(envelope, partition, rng))
    return _file(file.key, "generator+crafted", elements)


def _file(key: str, kind: str, elements: Sequence[Element], indent: int | None = 2) -> FuzzFile:
    body = json.dumps([e.value for e in elements], indent=indent, sort_keys=True).encode()
    accepted = {i: e.value["ID"] for i, e in enumerate(elements) if e.reason is None}
    refused = {i: e.reason for i, e in enumerate(elements) if e.reason is not None}
    return FuzzFile(key, body, kind, accepted, refused, element_kinds={i: e.kind for i, e in enumerate(elements)})


# --- one change to a good envelope ---

_INT_FIELDS = {
    ("job-processed", "transcode"): (
        "computeUnits",
        "pricePerComputeUnit",
        "fees",
        "responseTime",
        "duration",
        "realTimeRatio",
    ),
    ("job-processed", "ai"): ("responseTime", "computeUnits", "pricePerComputeUnit", "fees"),
}
_TEXT_FIELDS = {
    ("job-processed", "ai"): ("requestID", "pipeline", "modelID"),
    ("job-received", "ai"): ("requestID", "pipeline", "modelID"),
    ("worker-connected", "ai"): ("connection",),
    ("worker-connected", "transcode"): ("connection",),
    ("worker-disconnected", "ai"): ("connection",),
    ("worker-disconnected", "transcode"): ("connection",),
}
_ENVELOPE_TEXT = ("ID", "EventType", "NodeType", "Region", "DT")
_NOT_INT = ("1", 1.5, True, None, [1], {"n": 1}, float("nan"), float("inf"))
_NOT_TEXT = (7, 1.5, False, None, ["x"], {"x": 1})
_BAD_ADDRESSES = (
    "0x123",
    "0x" + "g" * 40,
    "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00",
    "0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",
    "",
    " 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
)
_BAD_TIMESTAMPS = (
    "yesterday",
    "2025-13-01T00:00:00Z",
    "2025-11-05T15:00:00",
    "2025-11-05T25:00:00Z",
    "2025-11-05T15:00:00+24:00",
    "1762355000",
    "２０２５-11-05T15:00:00Z",
)
_UNKNOWN_TYPES = (
    "job-failed",
    "JOB-PROCESSED",
    "job-processed ",
    "jöb-prócessed",
    "🙂",
    "x" * 5000,
    "null",
    "job\x00processed",
)
_NOT_OBJECTS: tuple[Any, ...] = (0, -1, 1.5, "text", "", True, None, [], [1, 2], [[{}]])


def crafted_element(envelope: Envelope, partition: Partition, rng: random.Random) -> Element:
    """A bad element made from `envelope` by one change, with the reason the contract must give."""
    mutation = rng.choice(_MUTATIONS)
    value, reason = mutation(copy.deepcopy(envelope) | {"ID": _uuid(rng)}, partition, rng)
    return Element(value, reason, mutation.__name__.lstrip("_"))


def _missing_envelope_field(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    name = rng.choice(("ID", "EventType", "Version", "NodeType", "Region", "DT", "Payload"))
    del e[name]
    return e, f"missing_field:{name}"


def _wrong_envelope_type(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    name = rng.choice((*_ENVELOPE_TEXT, "Version", "Payload"))
    if name == "Version":
        e[name] = rng.choice(("1", 1.0, True, [1]))
    elif name == "Payload":
        e[name] = rng.choice(([], "payload", 0, [e["Payload"]]))
    else:
        e[name] = rng.choice([v for v in _NOT_TEXT if v is not None])
    return e, f"wrong_type:{name}"


def _empty_envelope_text(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    name = rng.choice(_ENVELOPE_TEXT)
    e[name] = ""
    return e, f"empty_field:{name}"


def _invalid_id(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    valid = e["ID"]
    e["ID"] = rng.choice(("not-a-uuid", valid.replace("-", ""), "{" + valid + "}", valid[:-1], valid + "0", "0" * 36))
    return e, "invalid_id"


def _unknown_event_type(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    e["EventType"] = rng.choice(_UNKNOWN_TYPES)
    return e, "unknown_event_type"


def _unsupported_version(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    e["Version"] = rng.choice((0, 2, -1, 10**40, -(2**63)))
    return e, "unsupported_version"


def _wrong_partition(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    if rng.random() < 0.5:
        e["Region"] = rng.choice([r for r in (*REGIONS, "mars", p.region.upper()) if r != p.region])
    else:
        e["NodeType"] = rng.choice([n for n in ("ai", "transcode", "gpu") if n != p.node_type])
    return e, "partition_mismatch"


def _invalid_timestamp(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    e["DT"] = rng.choice(_BAD_TIMESTAMPS)
    return e, "invalid_timestamp"


def _not_an_object(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    if rng.random() < 0.2:
        return _nested_list(rng.randrange(10, SAFE_DEPTH)), "not_an_object"
    return copy.deepcopy(rng.choice(_NOT_OBJECTS)), "not_an_object"


def _missing_payload_field(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    if not e["Payload"]:  # resets carry no payload fields
        return _unknown_event_type(e, p, rng)
    name = rng.choice(sorted(e["Payload"]))
    del e["Payload"][name]
    return e, f"missing_field:{name}"


def _wrong_payload_type(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    slot = (e["EventType"], p.node_type)
    ints, texts = _INT_FIELDS.get(slot, ()), _TEXT_FIELDS.get(slot, ())
    addresses = ("ethAddress",) if "ethAddress" in e["Payload"] else ()
    choices = [*ints, *texts, *addresses]
    if not choices:
        return _wrong_envelope_type(e, p, rng)
    name = rng.choice(choices)
    if name in ints:
        e["Payload"][name] = rng.choice(_NOT_INT)
    elif rng.random() < 0.1:
        e["Payload"][name] = _nested_dict(rng.randrange(10, SAFE_DEPTH))
    else:
        e["Payload"][name] = rng.choice([v for v in _NOT_TEXT if v is not None])
    return e, f"wrong_type:{name}"


def _huge_integer(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    ints = _INT_FIELDS.get((e["EventType"], p.node_type), ())
    if not ints:
        return _unsupported_version(e, p, rng)
    name = rng.choice(ints)
    e["Payload"][name] = rng.choice((INT64_MAX + 1, 2**64, 10 ** rng.randrange(19, 4000)))
    return e, f"out_of_range:{name}"


def _negative_amount(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    ints = _INT_FIELDS.get((e["EventType"], p.node_type), ())
    if not ints:
        return _invalid_timestamp(e, p, rng)
    name = rng.choice(ints)
    e["Payload"][name] = -rng.randrange(1, 2**63)
    return e, "negative_fees" if name == "fees" else f"out_of_range:{name}"


def _invalid_address(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    if "ethAddress" not in e["Payload"]:
        return _invalid_id(e, p, rng)
    address: str = e["Payload"]["ethAddress"]
    broken = address[:2] + address[2:].swapcase() if address[2:] != address[2:].swapcase() else "0x123"
    e["Payload"]["ethAddress"] = rng.choice((*_BAD_ADDRESSES, broken))
    return e, "invalid_address"


def _bad_text(e: Envelope, p: Partition, rng: random.Random) -> tuple[Any, str]:
    texts = _TEXT_FIELDS.get((e["EventType"], p.node_type), ())
    if not texts:
        return _empty_envelope_text(e, p, rng)
    name = rng.choice(texts)
    if rng.random() < 0.5:
        e["Payload"][name] = ""
        return e, f"empty_field:{name}"
    e["Payload"][name] = "w" * rng.randrange(513, 20_000)
    return e, f"out_of_range:{name}"


_MUTATIONS: tuple[Callable[[Envelope, Partition, random.Random], tuple[Any, str]], ...] = (
    _missing_envelope_field,
    _wrong_envelope_type,
    _empty_envelope_text,
    _invalid_id,
    _unknown_event_type,
    _unsupported_version,
    _wrong_partition,
    _invalid_timestamp,
    _not_an_object,
    _missing_payload_field,
    _wrong_payload_type,
    _huge_integer,
    _negative_amount,
    _invalid_address,
    _bad_text,
)


def odd_but_valid(envelope: Envelope, rng: random.Random) -> Element:
    """A good envelope written differently: extra fields, unicode, another zone, an upper-case ID."""
    e = copy.deepcopy(envelope)
    e["ID"] = _uuid(rng).upper() if rng.random() < 0.3 else _uuid(rng)
    e["Extra"] = {"nested": [[['[{"not": "counted"}]']]], "n": 10**30}
    e["Payload"]["unknownField"] = rng.choice((None, "ü", [1, {}], 2**70))
    if rng.random() < 0.3:
        dt = datetime.strptime(e["DT"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        e["DT"] = (dt + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.123456+02:00")
    if "connection" in e["Payload"]:
        e["Payload"]["connection"] = rng.choice(("[[[{{{", "ü" * 512, "\u2028\ttab", '"quoted\\"'))
    return Element(e, None, "odd_but_valid")


# --- whole files ---


class _Stamps:
    """Keys of the emitter's layout, each with its own one-second stamp, away from the generated data."""

    def __init__(self, start: datetime) -> None:
        self._next = start

    def key(self, partition: Partition) -> str:
        at = self._next
        self._next += timedelta(seconds=1)
        return file_key(partition, at.strftime(_STAMP), at.strftime(_STAMP))


def _standalone_files(
    good: Sequence[tuple[Partition, Envelope]], rng: random.Random, stamps: _Stamps
) -> list[FuzzFile]:
    partition, _ = rng.choice(good)
    same = [e for p, e in good if p == partition]

    def fresh(count: int) -> list[Element]:
        return [
            Element(copy.deepcopy(e) | {"ID": _uuid(rng)}, None, "good")
            for e in rng.sample(same, min(count, len(same)))
        ]

    def key() -> str:
        return stamps.key(partition)

    mixed = fresh(20)
    for _ in range(20):
        _, envelope = rng.choice([(p, e) for p, e in good if p == partition])
        mixed.insert(rng.randrange(len(mixed) + 1), crafted_element(envelope, partition, rng))
    mixed += [odd_but_valid(rng.choice(same), rng) for _ in range(3)]
    whole = json.dumps([e.value for e in fresh(10)], indent=2).encode()
    huge = fresh(5)
    huge_body = json.dumps([e.value for e in huge]).encode()[:-1] + b',{"fees":' + b"9" * HUGE_DIGITS + b"}]"
    other = rng.choice([r for r in REGIONS if r != partition.region])
    foreign = Partition(other, partition.node_type)
    return [
        _file(key(), "crafted_elements", mixed),
        _file(key(), "compact_json", fresh(8), indent=None),
        FuzzFile(
            key(), b"\x80\x80" + rng.randbytes(rng.randrange(0, 4096)), "random_bytes", file_reason="invalid_json"
        ),
        FuzzFile(key(), b"\x80" + rng.randbytes(rng.randrange(1, 64)), "random_bytes", file_reason="invalid_json"),
        FuzzFile(key(), whole[: rng.randrange(1, len(whole))], "truncated_json", file_reason="invalid_json"),
        FuzzFile(key(), b"", "empty_body", file_reason="invalid_json"),
        FuzzFile(key(), '[{"é'.encode()[:-1], "truncated_json", file_reason="invalid_json"),
        FuzzFile(
            key(),
            rng.choice((b'{"events": []}', b"42", b'"text"', b"true", b"1e999")),
            "not_an_array",
            file_reason="not_an_array",
        ),
        FuzzFile(key(), b"null", "null_body"),
        FuzzFile(key(), b"[]", "empty_array"),
        FuzzFile(key(), b"[" * 1001 + b"]" * 1001, "deep_nesting", file_reason="invalid_json"),
        FuzzFile(key(), b'[{"a":' * 600 + b"1" + b"}" * 600 + b"]", "deep_nesting", file_reason="invalid_json"),
        _file(key(), "deep_element", [Element(_nested_list(SAFE_DEPTH), "not_an_object", "deep_element"), *fresh(2)]),
        FuzzFile(key(), huge_body, "huge_integer_file", file_reason="invalid_json"),
        _file(
            stamps.key(foreign),
            "wrong_partition_file",
            [Element(e.value, "partition_mismatch", "wrong_partition_file") for e in fresh(6)],
        ),
        FuzzFile(
            f"{partition.prefix}notes-{_uuid(rng)}.json", whole, "unrecognised_key", file_reason="unrecognised_key"
        ),
        FuzzFile(
            f"{partition.prefix}sub/{key().rsplit('/', 1)[1]}",
            whole,
            "unrecognised_key",
            file_reason="unrecognised_key",
        ),
        FuzzFile(key().replace("Z_", "X_"), whole, "unrecognised_key", file_reason="unrecognised_key"),
    ]


def _large_files(good: Sequence[tuple[Partition, Envelope]], rng: random.Random, stamps: _Stamps) -> list[FuzzFile]:
    partition, _ = good[0]
    same = [e for p, e in good if p == partition]
    elements: list[Element] = []
    size = 0
    while size < 3 * MIB:
        envelope = rng.choice(same)
        element = (
            crafted_element(envelope, partition, rng)
            if rng.random() < 0.02
            else Element(copy.deepcopy(envelope) | {"ID": _uuid(rng)}, None, "good")
        )
        elements.append(element)
        size += len(json.dumps(element.value)) + 40
    big = _file(stamps.key(partition), "large_file", elements)
    envelope = copy.deepcopy(same[0]) | {"ID": _uuid(rng), "EventType": "x" * (3 * MIB)}
    long_text = copy.deepcopy(same[0]) | {
        "ID": _uuid(rng),
        "Payload": {"connection": "c" * (2 * MIB), "ethAddress": "0x" + "0" * 40},
        "EventType": "worker-connected",
    }
    return [
        big,
        FuzzFile(
            stamps.key(partition),
            big.body[: len(big.body) - MIB // 2],
            "large_truncated_json",
            file_reason="invalid_json",
        ),
        FuzzFile(
            stamps.key(partition), b"\x80" + rng.randbytes(3 * MIB), "large_random_bytes", file_reason="invalid_json"
        ),
        FuzzFile(stamps.key(partition), b"[" + b"\x01" * (3 * MIB), "large_control_bytes", file_reason="invalid_json"),
        _file(
            stamps.key(partition),
            "large_element",
            [
                Element(envelope, "unknown_event_type", "large_element"),
                Element(long_text, "out_of_range:connection", "large_element"),
            ],
        ),
    ]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _nested_list(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _nested_dict(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value
