"""A reverse proxy in front of the S3 endpoint that answers 500/503 to chosen object GETs, then recovers."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}
_ERRORS = [
    (503, b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"),
    (500, b"<?xml version='1.0'?><Error><Code>InternalError</Code><Message>Try again.</Message></Error>"),
]


class FlakyS3:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.failures: Counter[str] = Counter()  # object key -> GETs still to fail
        self.failed: Counter[str] = Counter()  # object key -> GETs failed so far
        self._session: aiohttp.ClientSession | None = None

    def fail_gets(self, key: str, times: int) -> None:
        self.failures[key] = times

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = _object_key(request)
        if request.method == "GET" and key is not None and self.failures[key] > 0:
            self.failures[key] -= 1
            status, body = _ERRORS[self.failed[key] % len(_ERRORS)]
            self.failed[key] += 1
            return web.Response(status=status, body=body, content_type="application/xml")
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=await request.read()
        ) as upstream:
            body = await upstream.read()
            answer = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            return web.Response(status=upstream.status, body=body, headers=answer)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """Run the proxy on a free loopback port; yields its endpoint URL."""
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()
            await self._session.close()


def _object_key(request: web.Request) -> str | None:
    """The key of a path-style object request (`/bucket/key`), None for bucket-level requests."""
    bucket, _, key = request.path.lstrip("/").partition("/")
    return key if bucket and key else None
