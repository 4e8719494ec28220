"""A small HTTP proxy in front of the local S3 that injects S3 faults.

Outages are simulated here rather than by stopping the S3 server, so a fault is switched on and
off at an exact moment. Modes: pass through; answer 503 SlowDown to everything; forward a PUT
and then drop the connection without answering (the object exists, the client never hears so).
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web
from yarl import URL

log = logging.getLogger(__name__)

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class S3FaultProxy:
    """Proxy `listen_port` -> `upstream`; switch faults with `fail_with_503` / `drop_after_put`."""

    def __init__(self, upstream: str, port: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port
        self.unavailable = False
        self.drops_left = 0
        self.requests = 0
        self.faults = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_with_503(self, on: bool) -> None:
        """Answer every request with 503 SlowDown while `on`."""
        self.unavailable = on

    def drop_after_put(self, count: int) -> None:
        """For the next `count` PUTs: forward them, then close the connection unanswered."""
        self.drops_left = count

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.unavailable:
            self.faults += 1
            return web.Response(status=503, body=SLOW_DOWN, content_type="application/xml")
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Host"] = request.host
        body = await request.read()
        async with self._session.request(
            # The path and query exactly as the client sent them (signed with SigV4: re-quoting
            # them would break the signature).
            request.method,
            URL(self.upstream + request.rel_url.raw_path_qs, encoded=True),
            headers=headers,
            data=body or None,  # no body, no Content-Type of aiohttp's own (it is not signed)
        ) as upstream:
            payload = await upstream.read()
            if request.method == "PUT" and self.drops_left > 0 and upstream.status == 200:
                self.drops_left -= 1
                self.faults += 1
                assert request.transport is not None
                request.transport.abort()  # the PUT landed; the client never hears so
                raise asyncio.CancelledError
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            response = web.Response(status=upstream.status, body=payload, headers=out)
            if request.method == "HEAD" and "Content-Length" in upstream.headers:
                response.headers["Content-Length"] = upstream.headers["Content-Length"]  # the object's size
            return response

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
