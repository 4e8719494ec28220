"""Serving the API inside a process that owns its own signals (`studio dev`, the tests)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the embedding process handles SIGINT/SIGTERM and
    stops the server with `should_exit = True`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
