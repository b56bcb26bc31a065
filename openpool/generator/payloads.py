"""Event payloads built with the emitter's own formulas and units (replaced-system.md §2).

Transcode: computeUnits are the encoded pixels of all renditions, responseTime and duration are ms, and
realTimeRatio is int64 division (0 when the response-time race left responseTime at 0). AI: responseTime is
ns and pricePerComputeUnit is the truncated gateway price. Both: fees = pricePerComputeUnit × computeUnits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openpool.generator.pool_model import FRAMES_PER_SEGMENT, Rendition

Payload = dict[str, Any]


def worker_connection(address: str, connection: str) -> Payload:
    return {"connection": connection, "ethAddress": address}


def transcode_job_processed(
    address: str, renditions: Sequence[Rendition], price_per_pixel: int, response_ms: int, duration_ms: int
) -> Payload:
    compute_units = sum(rendition.pixels_per_frame for rendition in renditions) * FRAMES_PER_SEGMENT
    return {
        "computeUnits": compute_units,
        "duration": duration_ms,
        "ethAddress": address,
        "fees": price_per_pixel * compute_units,
        "pricePerComputeUnit": price_per_pixel,
        "realTimeRatio": duration_ms // response_ms if response_ms > 0 else 0,
        "responseTime": response_ms,
    }


def ai_job_received(address: str, request_id: str, pipeline: str, model_id: str) -> Payload:
    return {"ethAddress": address, "modelID": model_id, "pipeline": pipeline, "requestID": request_id}


def ai_job_processed(
    request_id: str, pipeline: str, model_id: str, response_ns: int, compute_units: int, price_per_unit: int
) -> Payload:
    return {
        "computeUnits": compute_units,
        "fees": price_per_unit * compute_units,
        "modelID": model_id,
        "pipeline": pipeline,
        "pricePerComputeUnit": price_per_unit,
        "requestID": request_id,
        "responseTime": response_ns,
    }
