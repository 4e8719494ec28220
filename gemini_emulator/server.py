"""Run the emulator: in a background thread (tests) or in the foreground (`make dev`).

In tests::

    with EmulatorServer() as server:          # port 0 picks a free port
        client = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=server.url))
        server.script("castle", [{"kind": "rate_limit", "retry_delay_s": 2}])
        server.calls("castle")                # -> list[CallRecord]

    with EmulatorServer(default_latency_s=2, quota_images_per_minute=60) as server:
        ...                                   # 429 + RetryInfo past 60 calls a minute per key
        server.stats()                        # -> {"calls", "ok", "rate_limited", ...}

From a shell::

    python -m gemini_emulator --port 8765 [--latency 2] [--quota-images-per-minute 60]
        [--quota-images-per-day N] [--quota-window-s 60] [--realistic-bytes]
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
from .batches import BatchScript, BatchStore
from .quota import EmulatorConfig, key_fingerprint
from .scripts import CallRecord, Outcome, ScriptRegistry

STARTUP_TIMEOUT_S = 10.0


class EmulatorServer:
    """The emulator app served by uvicorn on `host`:`port` in a daemon thread.

    `start()` binds the socket itself (port 0 = any free port), returns once uvicorn is serving
    and sets `url` ("http://127.0.0.1:54321"); it raises RuntimeError if uvicorn fails to start
    within 10 s. `stop()` shuts down (in-flight requests get 1 s before being cancelled).
    `default_latency_s`: seconds added to unscripted calls (None: env GEMINI_EMULATOR_LATENCY_S).
    `quota_images_per_minute` / `quota_images_per_day`: calls admitted per sliding window of
    `quota_window_s` seconds / per UTC day, per API key and model, 429 with RetryInfo past them
    (None: no limit). `realistic_bytes`: images of a real model's size (20 MB at 4K).
    `batch_turnaround_s`: seconds a Batch API job takes (`batch_script`, `batch_stats`).
    `configure(...)` changes any of these while running.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        default_latency_s: float | None = None,
        *,
        quota_images_per_minute: int | None = None,
        quota_images_per_day: int | None = None,
        quota_window_s: float = 60.0,
        realistic_bytes: bool = False,
        batch_turnaround_s: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.app = create_app(
            default_latency_s,
            quota_images_per_minute=quota_images_per_minute,
            quota_images_per_day=quota_images_per_day,
            quota_window_s=quota_window_s,
            realistic_bytes=realistic_bytes,
            batch_turnaround_s=batch_turnaround_s,
        )
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

    @property
    def config(self) -> EmulatorConfig:
        """The live settings (same object as GET /_emulator/config returns)."""
        config: EmulatorConfig = self.app.state.config
        return config

    def configure(self, **changes: Any) -> EmulatorConfig:
        """In-process POST /_emulator/config: change the given settings (pydantic errors raise)."""
        self.config.update(changes)
        return self.config

    def stats(self, match: str | None = None, api_key: str | None = None) -> dict[str, Any]:
        """In-process GET /_emulator/stats: counts of calls (total, ok, 429s)."""
        return self.registry.stats(match, key_fingerprint(api_key) if api_key is not None else None)

    @property
    def batches(self) -> BatchStore:
        """The Batch API's jobs (same store as the batches endpoints use)."""
        store: BatchStore = self.app.state.batches
        return store

    def batch_script(self, match: str, outcome: str = "ok", turnaround_s: float | None = None) -> None:
        """In-process POST /_emulator/batch_scripts: the next batch job with a prompt containing
        `match` ends as `outcome` ("ok", "expire", "fail") after `turnaround_s` seconds."""
        self.batches.add_script(
            BatchScript.model_validate({"match": match, "outcome": outcome, "turnaround_s": turnaround_s})
        )

    def batch_stats(self, api_key: str | None = None) -> dict[str, int]:
        """In-process GET /_emulator/batch_stats: `{"jobs_created", "items_billed", "cancels"}`."""
        return self.batches.stats(key_fingerprint(api_key) if api_key is not None else None)

    def reset(self) -> None:
        """In-process POST /_emulator/reset (scripts, call log, quota windows, batch jobs)."""
        self.registry.reset()
        self.app.state.quota.reset()
        self.batches.reset()

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
    """CLI: `python -m gemini_emulator [--host 127.0.0.1] [--port 8765] [--latency S]
    [--quota-images-per-minute N] [--quota-images-per-day N] [--quota-window-s S] [--realistic-bytes]`."""
    parser = argparse.ArgumentParser(description="Emulator of Gemini's image generateContent API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--latency",
        type=float,
        default=None,
        help=f"seconds per call (default: ${LATENCY_ENV} or 0)",
    )
    parser.add_argument(
        "--quota-images-per-minute",
        type=int,
        default=None,
        help="calls admitted per sliding window, per API key and model; 429 + RetryInfo past it",
    )
    parser.add_argument("--quota-window-s", type=float, default=60.0, help="the window's length (default 60)")
    parser.add_argument(
        "--quota-images-per-day", type=int, default=None, help="calls admitted per UTC day (429 PerDay past it)"
    )
    parser.add_argument(
        "--realistic-bytes", action="store_true", help="images of a real model's size (about 20 MB at 4K)"
    )
    parser.add_argument(
        "--batch-turnaround-s", type=float, default=5.0, help="seconds a Batch API job takes (default 5)"
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    app = create_app(
        args.latency,
        quota_images_per_minute=args.quota_images_per_minute,
        quota_images_per_day=args.quota_images_per_day,
        quota_window_s=args.quota_window_s,
        realistic_bytes=args.realistic_bytes,
        batch_turnaround_s=args.batch_turnaround_s,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
