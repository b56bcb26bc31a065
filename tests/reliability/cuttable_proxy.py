"""A reverse proxy in front of one HTTP service that the fault loop can cut off, or make answer errors, for a while.

The pipeline reaches S3 and the chain's JSON-RPC endpoint only through one of these, so an outage looks the
way it does in production: while `cut`, connections are refused and open ones are dropped; while
`answering_errors`, every request gets what a struggling RPC provider sends back (503, 429, a JSON-RPC
internal error) without reaching the node.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import weakref
from enum import StrEnum

import aiohttp
from aiohttp import web

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class ProxyMode(StrEnum):
    FORWARD = "forward"
    UNREACHABLE = "unreachable"
    ERRORS = "errors"


class CuttableProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = ProxyMode.FORWARD
        self.port = 0
        self.requests_refused = 0
        """Requests answered with an error, or dropped, instead of being forwarded; connections refused while
        cut never become requests and are not counted."""
        self._answers = itertools.cycle((_unavailable, _rate_limited, _rpc_internal_error))
        # Weak: a connection the client closed is forgotten with its transport.
        self._connections: weakref.WeakSet[asyncio.Transport] = weakref.WeakSet()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self._listen()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def cut(self) -> None:
        self.mode = ProxyMode.UNREACHABLE
        if self._site is not None:
            await self._site.stop()
            self._site = None
        for transport in list(self._connections):
            transport.abort()

    async def answer_errors(self) -> None:
        await self.restore()
        self.mode = ProxyMode.ERRORS

    async def restore(self) -> None:
        if self._site is None:
            await self._listen()
        self.mode = ProxyMode.FORWARD

    async def _listen(self) -> None:
        assert self._runner is not None
        # The first start takes any free port; a restart after a cut takes the same one again.
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        if self.port == 0:
            server = self._site._server
            assert isinstance(server, asyncio.Server)
            self.port = int(server.sockets[0].getsockname()[1])

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if self.mode is ProxyMode.UNREACHABLE:
            # A kept-alive connection that slipped through the cut: drop it as a dead host would.
            self.requests_refused += 1
            if transport is not None:
                transport.abort()
            raise web.HTTPServiceUnavailable()
        if isinstance(transport, asyncio.Transport):
            self._connections.add(transport)
        body = await request.read()
        if self.mode is ProxyMode.ERRORS:
            self.requests_refused += 1
            return next(self._answers)(body)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body
        ) as upstream:
            answer = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            return web.Response(status=upstream.status, body=answer, headers=kept)


def _unavailable(_: bytes) -> web.Response:
    return web.Response(status=503, text="upstream connect error or disconnect/reset before headers")


def _rate_limited(_: bytes) -> web.Response:
    return web.json_response({"error": "rate limit exceeded"}, status=429)


def _rpc_internal_error(body: bytes) -> web.Response:
    """HTTP 200 with a JSON-RPC error, echoing the request's id as a provider does."""
    try:
        request = json.loads(body)
    except ValueError:
        return _unavailable(body)
    if not isinstance(request, dict):
        return _unavailable(body)
    error = {"code": -32603, "message": "internal error: upstream node unavailable"}
    return web.json_response({"jsonrpc": "2.0", "id": request.get("id"), "error": error})
