"""The API's HTTP protocol under uvicorn: one configuration for `studio api`, `studio dev` and
the tests.

uvicorn answers a request it cannot parse (bad request line, invalid header, oversized
header) itself, before the app sees it, with a plain-text 400. The protocol classes below send
the API's JSON error envelope instead, so every error a client gets has one shape.
"""

from __future__ import annotations

import json
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - uvicorn without its [standard] extra
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def _malformed_request_response() -> bytes:
    body = json.dumps(
        {"error": {"code": "bad_request", "message": "malformed HTTP request (could not be parsed)"}}
    ).encode()
    head = (
        b"HTTP/1.1 400 Bad Request\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
    )
    return head + body


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol whose own 400 is the JSON error envelope."""

    def send_400_response(self, msg: str) -> None:
        self.transport.write(_malformed_request_response())
        self.transport.close()


HTTP_PROTOCOL: type[Any] = JsonErrorH11Protocol
if HttpToolsProtocol is not None:

    class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol (its default when installed) whose own 400 is JSON."""

        def send_400_response(self, msg: str) -> None:
            self.transport.write(_malformed_request_response())
            self.transport.close()

    HTTP_PROTOCOL = JsonErrorHttpToolsProtocol


def server_config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration of the API: `app` on host:port with the JSON-400 protocol."""
    return uvicorn.Config(app, host=host, port=port, http=HTTP_PROTOCOL, **options)
