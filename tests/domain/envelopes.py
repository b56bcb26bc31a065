"""Envelopes as the emitter writes them, built by hand or drawn by hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from openpool.domain.events import INT64_MAX

REGION = "us-central"
SOURCE_KEY = f"{REGION}/transcode/{REGION}-transcode-20251105T152058Z_20251105T152131Z.json"
ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def envelope(event_type: str, payload: dict[str, Any], *, node_type: str = "transcode") -> dict[str, Any]:
    return {
        "DT": "2025-11-05T15:21:31Z",
        "EventType": event_type,
        "ID": "dc186dc7-24a4-492a-b462-e477ee1786fd",
        "NodeType": node_type,
        "Payload": payload,
        "Region": REGION,
        "Version": 1,
    }


def transcode_job_processed(**payload: Any) -> dict[str, Any]:
    return envelope(
        "job-processed",
        {
            "computeUnits": 75254400,
            "duration": 2000,
            "ethAddress": ADDRESS,
            "fees": 90305280000,
            "pricePerComputeUnit": 1200,
            "realTimeRatio": 2,
            "responseTime": 812,
        }
        | payload,
    )


def ai_job_processed(**payload: Any) -> dict[str, Any]:
    return envelope(
        "job-processed",
        {
            "computeUnits": 1048576,
            "fees": 4999999389696,
            "modelID": "ByteDance/SDXL-Lightning",
            "pipeline": "text-to-image",
            "pricePerComputeUnit": 4768371,
            "requestID": "3f9a0c1e",
            "responseTime": 2841377112,
        }
        | payload,
        node_type="ai",
    )


def worker_connected(**payload: Any) -> dict[str, Any]:
    return envelope("worker-connected", {"connection": "203.0.113.17:52344", "ethAddress": ADDRESS} | payload)


def job_received(**payload: Any) -> dict[str, Any]:
    return envelope(
        "job-received",
        {
            "ethAddress": ADDRESS,
            "modelID": "ByteDance/SDXL-Lightning",
            "pipeline": "text-to-image",
            "requestID": "3f9a0c1e",
        }
        | payload,
        node_type="ai",
    )


def without(document: dict[str, Any], name: str) -> dict[str, Any]:
    """The envelope without field `name`, looked up first in the envelope and then in its payload."""
    if name in document:
        return {key: value for key, value in document.items() if key != name}
    payload = {key: value for key, value in document["Payload"].items() if key != name}
    return document | {"Payload": payload}


# --- hypothesis ---

addresses = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())
int64s = st.integers(min_value=0, max_value=INT64_MAX)
texts = st.text(min_size=1, max_size=40)
event_times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


def _envelope(event_type: str, payload: dict[str, Any], node_type: str, region: str) -> st.SearchStrategy[Any]:
    return st.builds(
        lambda event_id, dt, fixed: {
            "DT": dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "EventType": event_type,
            "ID": str(event_id),
            "NodeType": node_type,
            "Payload": fixed,
            "Region": region,
            "Version": 1,
        },
        st.uuids(version=4),
        event_times,
        st.fixed_dictionaries(payload),
    )


def valid_envelopes(node_type: str = "transcode", region: str = REGION) -> st.SearchStrategy[dict[str, Any]]:
    """Any envelope the emitter could write for the partition."""
    connection = {"connection": texts, "ethAddress": addresses}
    job_processed = (
        {
            "requestID": texts,
            "pipeline": texts,
            "modelID": texts,
            "responseTime": int64s,
            "computeUnits": int64s,
            "pricePerComputeUnit": int64s,
            "fees": int64s,
        }
        if node_type == "ai"
        else {
            "ethAddress": addresses,
            "computeUnits": int64s,
            "pricePerComputeUnit": int64s,
            "fees": int64s,
            "responseTime": int64s,
            "duration": int64s,
            "realTimeRatio": int64s,
        }
    )
    return st.one_of(
        st.sampled_from(["orchestrator-reset", "gateway-reset", "node-reset"]).flatmap(
            lambda reset: _envelope(reset, {}, node_type, region)
        ),
        _envelope("worker-connected", connection, node_type, region),
        _envelope("worker-disconnected", connection, node_type, region),
        _envelope(
            "job-received",
            {"ethAddress": addresses, "requestID": texts, "pipeline": texts, "modelID": texts},
            node_type,
            region,
        ),
        _envelope("job-processed", job_processed, node_type, region),
        _envelope(
            "ticket-redeemed",
            {
                "recipient": addresses,
                "sender": addresses,
                "faceValue": st.integers(min_value=0, max_value=2**256),
                "winProb": st.integers(min_value=0, max_value=2**256),
                "pricePerPixel": st.just("1200/1"),
                "creationRound": st.integers(min_value=0, max_value=10**6),
                "txHash": st.just("0x" + "00" * 32),
            },
            node_type,
            region,
        ),
    )


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["", "ai", "transcode", "job-processed", ADDRESS.lower(), "2025-11-05T15:21:31", "1", "-1"]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@st.composite
def spoiled_envelopes(draw: st.DrawFn, node_type: str = "transcode", region: str = REGION) -> dict[str, Any]:
    """A valid envelope with one field, of the envelope or of its payload, replaced by any JSON value or removed."""
    document: dict[str, Any] = draw(valid_envelopes(node_type, region))
    in_payload = bool(document["Payload"]) and draw(st.booleans())
    target = document["Payload"] if in_payload else document
    name = draw(st.sampled_from(sorted(target)))
    spoiled = {key: value for key, value in target.items() if key != name}
    if draw(st.booleans()):
        spoiled[name] = draw(json_values)
    return document | {"Payload": spoiled} if in_payload else spoiled
