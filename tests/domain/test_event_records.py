"""One record of the events topic: the msgspec fast path gives exactly what the strict path gives.

Accepted events must be equal (and built alike: same payload type, fields set, extras); rejections must be
identical (reason, detail, raw bytes). The fast path must also actually be taken for good events, or the
equality would hold trivially.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from openpool.domain import event_files
from openpool.domain.event_files import Rejection, decode_event_record, decode_event_record_strict
from openpool.domain.events import (
    AIJobProcessedPayload,
    Event,
    JobReceivedPayload,
    ResetPayload,
    TicketRedeemedPayload,
    TranscodeJobProcessedPayload,
    WorkerConnectionPayload,
)
from openpool.generator.pool_model import Partition
from tests.domain import envelopes
from tests.domain.envelopes import ADDRESS, ai_job_processed, envelope, job_received, transcode_job_processed
from tests.reliability.bad_input import crafted_element, odd_but_valid

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_NODE_TYPES = st.sampled_from(["transcode", "ai"])


def _ticket(**payload: Any) -> dict[str, Any]:
    return envelope(
        "ticket-redeemed",
        {
            "recipient": ADDRESS,
            "sender": ADDRESS.lower(),
            "faceValue": 2**100,
            "winProb": 3,
            "pricePerPixel": "1200/1",
            "creationRound": -7,
            "txHash": "",
        }
        | payload,
    )


def _encode(document: Any, style: int = 0) -> bytes:
    if style == 1:
        return json.dumps(document, indent=2, sort_keys=True).encode()
    if style == 2:
        return json.dumps(document, ensure_ascii=False).encode()
    return json.dumps(document, separators=(",", ":")).encode()


def _same(value: bytes | None) -> Event | Rejection:
    """The fast and the strict outcome of `value`, asserted identical; returns it."""
    fast = decode_event_record(value)
    strict = decode_event_record_strict(value)
    assert type(fast) is type(strict)
    assert fast == strict
    if isinstance(fast, Event):
        assert isinstance(strict, Event)
        _assert_built_alike(fast, strict)
        _assert_built_alike(fast.payload, strict.payload)
    return fast


def _assert_built_alike(fast: BaseModel, strict: BaseModel) -> None:
    assert type(fast) is type(strict)
    assert list(fast.__dict__) == list(strict.__dict__)
    for name, value in fast.__dict__.items():
        assert type(value) is type(strict.__dict__[name]), name
    assert fast.model_fields_set == strict.model_fields_set
    assert fast.__pydantic_extra__ == strict.__pydantic_extra__
    assert fast.__pydantic_private__ == strict.__pydantic_private__


def _fast_taken(value: bytes) -> None:
    assert event_files._decode_fast(value) is not None, value[:300]


# --- accepted ---


@_SETTINGS
@given(node_type=_NODE_TYPES, data=st.data(), style=st.sampled_from([0, 1, 2]))
def test_every_valid_event_takes_the_fast_path_and_equals_the_strict_one(
    node_type: str, data: st.DataObject, style: int
) -> None:
    body = _encode(data.draw(envelopes.valid_envelopes(node_type)), style)
    assert isinstance(_same(body), Event)
    _fast_taken(body)


@pytest.mark.parametrize(
    "document",
    [
        transcode_job_processed(),
        transcode_job_processed(ethAddress=ADDRESS.lower(), fees=2**63 - 1, computeUnits=0),
        ai_job_processed(),
        ai_job_processed(modelID="ü" * 512, requestID="😀" * 512),
        job_received(),
        envelope("worker-disconnected", {"connection": "c", "ethAddress": ADDRESS.upper().replace("0X", "0x")}),
        envelope("gateway-reset", {}),
        envelope("node-reset", {"anything": [1, {"x": None}]}),
        _ticket(),
        _ticket(faceValue=10**600, winProb=0, creationRound=-(10**300), pricePerPixel="p" * 200, txHash="0x" * 33),
        transcode_job_processed() | {"DT": "2025-11-05T17:21:31.123456+02:00", "Extra": {"n": 10**30}},
        transcode_job_processed() | {"ID": "DC186DC7-24A4-492A-B462-E477EE1786FD"},
        transcode_job_processed() | {"DT": "2025-11-05t15:21:31z"},
        transcode_job_processed(unknownField=2**70, eth_address="not an address"),
    ],
)
def test_accepted_examples_take_the_fast_path(document: dict[str, Any]) -> None:
    for style in (0, 1, 2):
        body = _encode(document, style)
        assert isinstance(_same(body), Event)
        _fast_taken(body)


def test_a_duplicated_key_counts_its_last_value_as_json_loads_does() -> None:
    good = _encode(transcode_job_processed())
    first_bad = good.replace(b'"fees":', b'"fees":-1,"fees":', 1)
    last_bad = good.replace(b'"fees":90305280000', b'"fees":90305280000,"fees":-1', 1)
    escaped = good.replace(b'"fees":90305280000', b'"fees":90305280000,"\\u0066ees":"x"', 1)
    assert isinstance(_same(first_bad), Event)
    assert _same(last_bad) == decode_event_record_strict(last_bad)
    assert isinstance(_same(last_bad), Rejection)
    assert isinstance(_same(escaped), Rejection)


# --- rejected, or accepted only by the strict path: always the strict answer ---


@_SETTINGS
@given(node_type=_NODE_TYPES, data=st.data(), style=st.sampled_from([0, 1, 2]))
def test_a_spoiled_event_gets_the_strict_answer(node_type: str, data: st.DataObject, style: int) -> None:
    document = data.draw(envelopes.spoiled_envelopes(node_type))
    _same(_encode(document, style))


@_SETTINGS
@given(node_type=_NODE_TYPES, data=st.data(), seed=st.integers(0, 2**32))
def test_a_crafted_bad_or_odd_element_gets_the_strict_answer(node_type: str, data: st.DataObject, seed: int) -> None:
    document = data.draw(envelopes.valid_envelopes(node_type, region="us-west"))
    rng = random.Random(seed)
    element = crafted_element(document, Partition("us-west", node_type), rng)
    _same(_encode(element.value, seed % 3))
    odd = odd_but_valid(document, rng)
    assert isinstance(_same(_encode(odd.value, seed % 3)), Event)


@_SETTINGS
@given(
    node_type=_NODE_TYPES,
    data=st.data(),
    edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3), st.binary(min_size=1, max_size=3)), max_size=4),
)
def test_a_body_broken_byte_by_byte_gets_the_strict_answer(
    node_type: str, data: st.DataObject, edits: list[tuple[float, int, bytes]]
) -> None:
    body = bytearray(_encode(data.draw(envelopes.valid_envelopes(node_type))))
    for where, how, chunk in edits:
        at = int(where * len(body))
        if how == 0:
            body[at:at] = chunk
        elif how == 1:
            del body[at : at + len(chunk)]
        else:
            body[at : at + len(chunk)] = chunk
    _same(bytes(body))


_GOOD = _encode(transcode_job_processed())
_DEEP = 100_000


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"null",
        b"[]",
        b"7",
        b'"text"',
        _encode([transcode_job_processed()]),
        b"\xef\xbb\xbf" + _GOOD,
        _GOOD.decode().encode("utf-16"),
        _GOOD + b"\n",
        _GOOD + b" x",
        _GOOD[:-1] + b',"Extra":"\xff"}',
        _GOOD[:-1] + b',"Extra":"\xed\xa0\x80"}',
        _GOOD[:-1] + b',"\xff":1}',
        _GOOD[:-1] + b',"Extra":' + b"9" * 5000 + b"}",
        _GOOD[:-1] + b',"Extra":' + b"9" * 4300 + b"}",
        _GOOD[:-1] + b',"Extra":' + b"9" * 700 + b".5}",
        _GOOD[:-1] + b',"Extra":NaN}',
        _GOOD[:-1] + b',"Extra":-Infinity}',
        _GOOD[:-1] + b',"Extra":1e999}',
        _GOOD[:-1] + b',"Extra":"\\ud800"}',
        _GOOD[:-1] + b',"Extra":"\\q"}',
        _GOOD[:-1] + b',"Extra":01}',
        _GOOD[:-1] + b',"Extra":[1,]}',
        _GOOD[:-1] + b',"Extra":' + b"[" * 70 + b"]" * 70 + b"}",
        _GOOD[:-1] + b',"Extra":' + b"[" * _DEEP + b"]" * _DEEP + b"}",
        _GOOD[:-1] + b',"Extra":' + b"[" * _DEEP + b"}",
        _GOOD.replace(b'"Payload":{', b'"Payload":{"x":' + b'{"k":' * _DEEP + b"1" + b"}" * _DEEP + b",", 1),
        _GOOD.replace(b'"fees":90305280000', b'"fees":' + b"9" * 5000, 1),
        _GOOD.replace(b'"fees":90305280000', b'"fees":' + b"9" * 20, 1),
        _GOOD.replace(b'"fees":90305280000', b'"fees":-5', 1),
        _GOOD.replace(b'"fees":90305280000', b'"fees":1.0', 1),
        _GOOD.replace(b'"fees":90305280000', b'"fees":"5"', 1),
        _GOOD.replace(b'"fees":90305280000', b'"fees":true', 1),
        _GOOD.replace(b'"fees":90305280000', b'"fees":null', 1),
        _GOOD.replace(b'"Version":1', b'"Version":true', 1),
        _GOOD.replace(b'"Version":1', b'"Version":1.0', 1),
        _GOOD.replace(b'"Version":1', b'"Version":2', 1),
        _GOOD.replace(b'"Version":1', b'"Version":' + b"1" * 30, 1),
        _GOOD.replace(b'"ethAddress"', b'"eth_address"', 1),
        _GOOD.replace(b'"ID":"dc186dc7', b'"ID":"\\ud800', 1),
        _GOOD.replace(b'"ID":"dc186dc7-24a4-492a-b462-e477ee1786fd"', b'"ID":"{dc186dc7-24a4-492a-b462-e477ee1786fd}"'),
        _GOOD.replace(b'"ID":"dc186dc7-24a4-492a-b462-e477ee1786fd"', b'"ID":"dc186dc724a4492ab462e477ee1786fd"'),
        _GOOD.replace(b'"NodeType":"transcode"', b'"NodeType":"gpu"', 1),
        _GOOD.replace(b'"NodeType":"transcode"', b'"NodeType":""', 1),
        _GOOD.replace(b'"EventType":"job-processed"', b'"EventType":"job-failed"', 1),
        _GOOD.replace(b'"DT":"2025-11-05T15:21:31Z"', b'"DT":"0001-01-01T00:00:00+01:00"', 1),
        _GOOD.replace(b'"DT":"2025-11-05T15:21:31Z"', b'"DT":"2025-11-05T15:21:31"', 1),
        _encode(transcode_job_processed(ethAddress="0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")),
        _encode(transcode_job_processed(ethAddress="0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED")),
        _encode(ai_job_processed(pipeline="w" * 513)),
        _encode(ai_job_processed(pipeline="")),
        _encode(ai_job_processed(responseTime=2**63)),
        _encode(_ticket(txHash="0x" * 34)),
        _encode(_ticket(faceValue=-1)),
        _encode(transcode_job_processed() | {"Payload": None}),
        _encode(transcode_job_processed() | {"Payload": [1]}),
        _encode(transcode_job_processed() | {"Payload": {}}),
    ],
)
def test_malformed_records_get_the_strict_answer_and_never_raise(value: bytes | None) -> None:
    _same(value)


def test_nothing_raises_or_crashes_on_deep_records_where_web3_raised_the_recursion_limit() -> None:
    script = (
        "import py_ecc, sys\n"
        "assert sys.getrecursionlimit() >= 100_000\n"
        "from openpool.domain.event_files import decode_event_record\n"
        "from openpool.domain.fast_json import loads\n"
        "n = 1_000_000\n"
        "for body in (b'[' * n + b']' * n, b'{\"a\":' * n + b'1' + b'}' * n, b'{\"Payload\":' + b'[' * n):\n"
        "    print(decode_event_record(body).reason)\n"
        "    try:\n"
        "        loads(body)\n"
        "    except ValueError:\n"
        "        print('ValueError')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["invalid_json", "ValueError"] * 3


# --- the twins stay twins ---

_TWINS: list[tuple[type[BaseModel], type[msgspec.Struct]]] = [
    (ResetPayload, event_files._WireReset),
    (WorkerConnectionPayload, event_files._WireWorkerConnection),
    (JobReceivedPayload, event_files._WireJobReceived),
    (AIJobProcessedPayload, event_files._WireAIJobProcessed),
    (TranscodeJobProcessedPayload, event_files._WireTranscodeJobProcessed),
    (TicketRedeemedPayload, event_files._WireTicketRedeemed),
]


@pytest.mark.parametrize(("model", "struct"), _TWINS)
def test_each_payload_struct_has_its_models_fields_in_order_under_its_aliases(
    model: type[BaseModel], struct: type[msgspec.Struct]
) -> None:
    assert struct.__struct_fields__ == tuple(model.model_fields)
    assert struct.__struct_encode_fields__ == tuple(field.alias or name for name, field in model.model_fields.items())
    assert all(field.is_required() for field in model.model_fields.values())
    assert event_files._WIRE_PAYLOADS[model].decoder.type is struct  # type: ignore[index]


def test_every_payload_model_of_the_strict_path_has_a_twin() -> None:
    strict_models = {*event_files._PAYLOAD_BY_TYPE.values(), *event_files._JOB_PROCESSED_BY_NODE_TYPE.values()}
    assert set(event_files._WIRE_PAYLOADS) == strict_models == {model for model, _ in _TWINS}


def test_the_envelope_struct_reads_what_the_strict_path_reads() -> None:
    assert event_files._WireEnvelope.__struct_encode_fields__ == (
        "ID",
        "EventType",
        "Version",
        "NodeType",
        "Region",
        "DT",
        "Payload",
    )
    assert set(event_files._WireEnvelope.__struct_fields__) == set(Event.model_fields)


@pytest.mark.parametrize(
    "event",
    [
        decode_event_record_strict(_encode(document))
        for document in (
            transcode_job_processed(),
            ai_job_processed(),
            job_received(),
            _ticket(),
            envelope("node-reset", {}),
        )
    ],
)
def test_the_cheap_constructor_builds_what_model_construct_builds(event: Event) -> None:
    for model in (event, event.payload):
        values = dict(model.__dict__)
        cheap = event_files._constructor(type(model))(dict(values))
        reference = type(model).model_construct(**values)
        assert cheap == reference
        _assert_built_alike(cheap, reference)
