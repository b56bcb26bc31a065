"""The HTTP endpoint of a process on OPENPOOL_METRICS_PORT: `/metrics`, `/healthz` and `/readyz`.

It runs on a thread of its own, so it still answers when the process's event loop is stuck, and can say so:
the loop beats a heartbeat every second, and `/healthz` is 503 once the last beat is older than
`stale_after_seconds` (synchronous work or a deadlock holding the loop). It checks no broker, bucket or node,
so an outage of one of them does not make Kubernetes restart every pod. `/readyz` is 200 once every readiness
condition of the process holds (the bridge: Kafka reached and the bucket listed; the payer: WAL read and the
node answered), 503 before, with the conditions in the body. Anything else is 404; only GET and HEAD are
served (405 otherwise).

Its socket is bound when the process starts, before it connects anywhere (`claim`): a taken port stops the
process there, with one line naming the variable and the port (exit 2), rather than leave it unwatched.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from importlib.metadata import version
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app

from openpool.metrics import BUILD_INFO
from openpool.ports import PortTaken

Readiness = Callable[[], Mapping[str, bool]]
"""The process's readiness conditions by name, each True once it holds; called from the endpoint's threads."""

StartResponse = Callable[..., Any]

HEARTBEAT_INTERVAL_SECONDS = 1.0
STALE_AFTER_SECONDS = 10.0
_READ_METHODS = ("GET", "HEAD")


class LoopHeartbeat:
    """The time the event loop last ran `beat`; read from other threads."""

    def __init__(
        self, *, stale_after_seconds: float = STALE_AFTER_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stale_after_seconds = stale_after_seconds
        self._clock = clock
        self._last: float | None = None

    def beat(self) -> None:
        self._last = self._clock()

    async def run(self, interval_seconds: float = HEARTBEAT_INTERVAL_SECONDS) -> None:
        """Beat from the running loop until cancelled."""
        while True:
            self.beat()
            await asyncio.sleep(interval_seconds)

    def age_seconds(self) -> float | None:
        """Seconds since the last beat; None before the first."""
        last = self._last
        return None if last is None else self._clock() - last


class HealthEndpoint:
    """The WSGI application: the registry's metrics, the heartbeat's health and the process's readiness."""

    def __init__(
        self, heartbeat: LoopHeartbeat, readiness: Readiness, *, registry: CollectorRegistry = REGISTRY
    ) -> None:
        self._heartbeat = heartbeat
        self._readiness = readiness
        self._metrics = make_wsgi_app(registry)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if path not in ("/metrics", "/healthz", "/readyz"):
            return _json(start_response, 404, {"error": "not found"}, method)
        if method not in _READ_METHODS:
            start_response("405 Method Not Allowed", [("Allow", ", ".join(_READ_METHODS)), ("Content-Length", "0")])
            return []
        if path == "/metrics":
            body = self._metrics({**environ, "REQUEST_METHOD": "GET"}, start_response)  # it refuses HEAD itself
            return [] if method == "HEAD" else body
        if path == "/healthz":
            return self._health(start_response, method)
        conditions = dict(self._readiness())
        ready = all(conditions.values())
        return _json(start_response, 200 if ready else 503, {"ready": ready, "conditions": conditions}, method)

    def _health(self, start_response: StartResponse, method: str) -> Iterable[bytes]:
        age = self._heartbeat.age_seconds()
        if age is None:
            return _json(start_response, 503, {"status": "starting"}, method)
        status = "ok" if age <= self._heartbeat.stale_after_seconds else "event loop stalled"
        body = {"status": status, "loop_heartbeat_age_seconds": round(age, 3)}
        return _json(start_response, 200 if status == "ok" else 503, body, method)


def _json(start_response: StartResponse, status: int, body: Mapping[str, Any], method: str) -> Iterable[bytes]:
    payload = json.dumps(body).encode()
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [] if method == "HEAD" else [payload]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes and scrapes every few seconds would drown the process's own log."""


def claim(port: int, *, setting: str = "OPENPOOL_METRICS_PORT", host: str = "0.0.0.0") -> WSGIServer | None:
    """The endpoint's listening socket, bound now and served later (`serve`, `serving`); None for port 0, which
    turns the endpoint off (OPENPOOL_METRICS_PORT=0).

    Called before the process connects anywhere: a port that cannot be bound raises `PortTaken`, naming
    `setting`, and stops the process at start rather than leave it running without its metrics and probes.
    """
    if port == 0:
        return None
    try:
        return _Server((host, port), _QuietHandler)
    except OSError as error:
        raise PortTaken(setting, port, error) from None


def serve(server: WSGIServer, endpoint: HealthEndpoint) -> WSGIServer:
    """Answer on `server`'s socket from a daemon thread."""
    BUILD_INFO.labels(version=version("openpool-stream")).set(1)
    server.set_app(endpoint)
    threading.Thread(target=server.serve_forever, name="health-endpoint", daemon=True).start()
    return server


@asynccontextmanager
async def serving(server: WSGIServer | None, readiness: Readiness) -> AsyncIterator[None]:
    """The endpoint on `server` (from `claim`; None serves nothing) while the block runs, its heartbeat beaten
    by the running loop; the socket is closed when the block ends."""
    if server is None:
        yield
        return
    heartbeat = LoopHeartbeat()
    beating = asyncio.create_task(heartbeat.run())
    serve(server, HealthEndpoint(heartbeat, readiness))
    try:
        yield
    finally:
        beating.cancel()
        await asyncio.to_thread(server.shutdown)
        server.server_close()
