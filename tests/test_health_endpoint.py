"""The metrics and health endpoint: /healthz follows the event loop's heartbeat, /readyz the process's conditions."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge

from openpool.health_endpoint import HealthEndpoint, LoopHeartbeat, Readiness, claim, serve, serving
from openpool.ports import PortTaken
from openpool.sandbox import free_port


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _request(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _json(port: int, path: str) -> tuple[int, Any]:
    status, _, body = _request(port, path)
    return status, json.loads(body)


@contextmanager
def _endpoint(
    heartbeat: LoopHeartbeat, readiness: Readiness, registry: CollectorRegistry | None = None
) -> Iterator[int]:
    claimed = claim(free_port())
    assert claimed is not None
    server = serve(claimed, HealthEndpoint(heartbeat, readiness, registry=registry or CollectorRegistry()))
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def _ready(**conditions: bool) -> Readiness:
    def readiness() -> Mapping[str, bool]:
        return conditions

    return readiness


def test_healthz_is_ok_while_the_heartbeat_is_fresh_and_503_once_it_is_stale() -> None:
    clock = _Clock()
    heartbeat = LoopHeartbeat(stale_after_seconds=10, clock=clock)
    with _endpoint(heartbeat, _ready()) as port:
        assert _json(port, "/healthz") == (503, {"status": "starting"})
        heartbeat.beat()
        clock.now += 9.5
        assert _json(port, "/healthz") == (200, {"status": "ok", "loop_heartbeat_age_seconds": 9.5})
        clock.now += 1
        assert _json(port, "/healthz") == (503, {"status": "event loop stalled", "loop_heartbeat_age_seconds": 10.5})
        heartbeat.beat()
        assert _json(port, "/healthz")[0] == 200


def test_readyz_is_503_until_every_condition_holds() -> None:
    conditions = {"kafka_connected": True, "bucket_listed": False}
    heartbeat = LoopHeartbeat()
    heartbeat.beat()
    with _endpoint(heartbeat, lambda: conditions) as port:
        assert _json(port, "/readyz") == (503, {"ready": False, "conditions": conditions})
        conditions["bucket_listed"] = True
        assert _json(port, "/readyz") == (200, {"ready": True, "conditions": conditions})


def test_readiness_does_not_depend_on_the_heartbeat_nor_health_on_readiness() -> None:
    with _endpoint(LoopHeartbeat(), _ready(ready=True)) as port:
        assert _json(port, "/readyz")[0] == 200
        assert _json(port, "/healthz")[0] == 503
    heartbeat = LoopHeartbeat()
    heartbeat.beat()
    with _endpoint(heartbeat, _ready(ready=False)) as port:
        assert _json(port, "/healthz")[0] == 200


def test_metrics_are_the_registry_in_the_exposition_format() -> None:
    registry = CollectorRegistry()
    Gauge("openpool_test_answer", "A test gauge.", registry=registry).set(42)
    with _endpoint(LoopHeartbeat(), _ready(), registry) as port:
        status, headers, body = _request(port, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert "openpool_test_answer 42.0" in body.decode()


def test_other_paths_are_404() -> None:
    with _endpoint(LoopHeartbeat(), _ready()) as port:
        for path in ("/", "/metrics/", "/health", "/readyz/x", "/workers"):
            assert _json(port, path) == (404, {"error": "not found"}), path


def test_mutating_methods_are_405() -> None:
    heartbeat = LoopHeartbeat()
    heartbeat.beat()
    with _endpoint(heartbeat, _ready(ready=True)) as port:
        for path in ("/metrics", "/healthz", "/readyz"):
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                status, headers, body = _request(port, path, method)
                assert (status, headers["Allow"], body) == (405, "GET, HEAD", b""), (method, path)


def test_head_answers_like_get_without_a_body() -> None:
    heartbeat = LoopHeartbeat()
    heartbeat.beat()
    with _endpoint(heartbeat, _ready(ready=False)) as port:
        assert _request(port, "/readyz", "HEAD")[::2] == (503, b"")
        assert _request(port, "/healthz", "HEAD")[::2] == (200, b"")
        assert _request(port, "/metrics", "HEAD")[::2] == (200, b"")


async def test_a_blocked_event_loop_turns_healthz_503_while_the_endpoint_still_answers() -> None:
    heartbeat = LoopHeartbeat(stale_after_seconds=0.3)
    beating = asyncio.create_task(heartbeat.run(interval_seconds=0.05))
    try:
        with _endpoint(heartbeat, _ready()) as port, ThreadPoolExecutor(1) as pool:
            await asyncio.sleep(0.1)
            assert (await asyncio.to_thread(_json, port, "/healthz"))[0] == 200

            def probe_later() -> tuple[int, Any]:
                time.sleep(0.6)
                return _json(port, "/healthz")

            during = pool.submit(probe_later)
            time.sleep(1.0)  # synchronous work holding the loop, as a stuck agent would
            assert during.result()[0] == 503
            await asyncio.sleep(0.1)
            assert (await asyncio.to_thread(_json, port, "/healthz"))[0] == 200
    finally:
        beating.cancel()


async def test_serving_beats_from_the_running_loop_and_stops_with_the_block() -> None:
    port = free_port()
    async with serving(claim(port), _ready(listed=True)):
        await asyncio.sleep(0.05)
        assert await asyncio.to_thread(_json, port, "/healthz") == (
            200,
            {"status": "ok", "loop_heartbeat_age_seconds": pytest.approx(0.05, abs=0.5)},
        )
        assert (await asyncio.to_thread(_json, port, "/readyz"))[0] == 200
        status, _, body = await asyncio.to_thread(_request, port, "/metrics")
        assert status == 200 and b'openpool_build_info{version="' in body
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_port_0_claims_nothing_it_turns_the_endpoint_off() -> None:
    assert claim(0) is None


def test_a_taken_port_is_refused_when_claimed_naming_the_setting() -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        with pytest.raises(PortTaken, match=f"^OPENPOOL_METRICS_PORT={port} is taken"):
            claim(port)
        with pytest.raises(PortTaken, match=f"^--metrics-port={port} is taken"):
            claim(port, setting="--metrics-port")


def test_a_claimed_port_is_held_before_it_is_served() -> None:
    server = claim(free_port())
    assert server is not None
    try:
        with pytest.raises(OSError):
            socket.create_server(("0.0.0.0", server.server_port))
    finally:
        server.server_close()
