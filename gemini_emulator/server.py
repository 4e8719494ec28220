"""Run the emulator: in a background thread (tests) or in the foreground (`make dev`).

In tests::

    with EmulatorServer() as server:          # port 0 picks a free port
        client = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=server.url))
        server.script("castle", [{"kind": "rate_limit", "retry_delay_s": 2}])
        server.calls("castle")                # -> list[CallRecord]

From a shell::

    python -m gemini_emulator --port 8765
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import uvicorn

from .app import LATENCY_ENV, create_app
from .scripts import CallRecord, Outcome, ScriptRegistry

STARTUP_TIMEOUT_S = 10.0


class EmulatorServer:
    """The emulator app served by uvicorn on `host`:`port` in a daemon thread.

    `start()` binds the socket itself (port 0 = any free port), returns once uvicorn is serving
    and sets `url` ("http://127.0.0.1:54321"); it raises RuntimeError if uvicorn fails to start
    within 10 s. `stop()` shuts down (in-flight requests get 1 s before being cancelled).
    `default_latency_s`: seconds added to unscripted calls (None: env GEMINI_EMULATOR_LATENCY_S).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, default_latency_s: float | None = None) -> None:
        self.host = host
        self.port = port
        self.app = create_app(default_latency_s)
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def registry(self) -> ScriptRegistry:
        """The app's script registry (same as the /_emulator/ endpoints use)."""
        registry: ScriptRegistry = self.app.state.registry
        return registry

    def script(self, match: str, outcomes: Iterable[Outcome | Mapping[str, Any]]) -> None:
        """In-process POST /_emulator/scripts: queue `outcomes` for prompts containing `match`."""
        self.registry.add(match, outcomes)

    def calls(self, match: str | None = None) -> list[CallRecord]:
        """In-process GET /_emulator/calls: logged calls whose prompt contains `match`."""
        return self.registry.calls(match)

    def reset(self) -> None:
        """In-process POST /_emulator/reset."""
        self.registry.reset()

    def start(self) -> EmulatorServer:
        """Bind, serve in a background thread, and wait until listening. Returns self."""
        if self._thread is not None:
            raise RuntimeError("EmulatorServer already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="gemini-emulator", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError(f"gemini emulator failed to start on {self.host}:{self.port}")
            time.sleep(0.01)
        self.url = f"http://{self.host}:{self.port}"
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and join its thread (no-op if not running)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """CLI: `python -m gemini_emulator [--host 127.0.0.1] [--port 8765] [--latency S]`."""
    parser = argparse.ArgumentParser(description="Emulator of Gemini's image generateContent API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--latency",
        type=float,
        default=None,
        help=f"seconds per call (default: ${LATENCY_ENV} or 0)",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.latency), host=args.host, port=args.port, log_level=args.log_level)
