"""The benchmark's world: the stack and the emulator in processes of their own, and the
service (`studio api`, `studio worker` x N) restarted on a fresh task queue for each scenario,
so work a scenario leaves behind never runs in the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from clients.settings import Settings
from db.session import SessionFactory, create_engine, create_session_factory
from db.users import create_user
from studio.localstack.ports import free_port
from studio.localstack.stack import StackEndpoints
from tests.bench.stack import StackProcess
from tests.chaos.processes import ManagedProcess, wait_api_ready

SERVICE_GEMINI_KEY = "emulator"  # what the worker sends when no GEMINI_API_KEY is set
PEER_GEMINI_KEY = "bench-peer"  # the peer's own key: its own quota, its own counts
UNLIMITED = 1_000_000


def settings_fields() -> set[str]:
    """The settings the service knows today (the benchmark sets only those that exist)."""
    return set(Settings.model_fields)


@dataclass
class RssPeaks:
    """Peak resident memory (bytes) per process name, sampled every `interval_s`."""

    peaks: dict[str, int] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)


async def sample_rss(
    procs: dict[str, int],
    stop: asyncio.Event,
    out: RssPeaks,
    kill_above: int | None = None,
    killable: frozenset[str] = frozenset(),
    interval_s: float = 0.2,
) -> None:
    """Poll the resident memory (VmRSS, with children) of each pid until `stop`; SIGKILL one of
    `killable` past `kill_above` bytes (a guard: the machine is shared) and note it in `out.killed`."""
    handles = {name: psutil.Process(pid) for name, pid in procs.items()}
    while not stop.is_set():
        for name, proc in handles.items():
            with contextlib.suppress(psutil.Error):
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                out.peaks[name] = max(out.peaks.get(name, 0), rss)
                if kill_above is not None and name in killable and rss > kill_above and name not in out.killed:
                    out.killed.append(name)
                    proc.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


class EmulatorProcess:
    """`python -m gemini_emulator` on a free port; configured and read over /_emulator/."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / "emulator.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "gemini_emulator", "--port", str(self.port), "--log-level", "warning"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        self.proc = self._spawn()
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/_emulator/health")).status_code == 200:
                        return
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"the emulator did not start; see {self.log_path}")
                await asyncio.sleep(0.1)

    async def configure(self, **changes: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.post("/_emulator/config", json=changes)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    async def reset(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            (await client.post("/_emulator/reset")).raise_for_status()

    async def stats(self, api_key: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.get("/_emulator/stats", params={"api_key": api_key})
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _state_parent() -> str | None:
    """Where the stack keeps its data: BENCH_TMP, else in memory (/dev/shm) when there is one,
    since the fsyncs of Postgres and of Temporal's SQLite on a shared disk are not what is
    measured; None: the system's temporary directory."""
    return os.environ.get("BENCH_TMP") or ("/dev/shm" if Path("/dev/shm").is_dir() else None)


class BenchEnv:
    """Everything a scenario drives. Use `async with BenchEnv.running(workers) as env`."""

    def __init__(self, root: Path, workers: int) -> None:
        self.root = root
        self.worker_count = workers
        self.stack = StackProcess(root)
        self.endpoints: StackEndpoints | None = None
        self.emulator = EmulatorProcess(root)
        self.api_port = free_port()
        self.api: ManagedProcess | None = None
        self.workers: list[ManagedProcess] = []
        self.task_queue = ""
        self.api_key = ""
        self.user_id = ""
        self.sessions: SessionFactory | None = None
        self._temporal: Client | None = None
        self._generation = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def client(self, timeout_s: float = 60) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        return httpx.AsyncClient(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=timeout_s,
            limits=limits,
        )

    async def temporal(self) -> Client:
        if self._temporal is None:
            assert self.endpoints is not None
            self._temporal = await Client.connect(
                self.endpoints.temporal_address, data_converter=pydantic_data_converter
            )
        return self._temporal

    def service_env(self, extra: dict[str, str]) -> dict[str, str]:
        """Environment of the API and worker processes: the stack, the emulator, no limits on
        creation (bursts of thousands are the point here), plus `extra`."""
        assert self.endpoints is not None
        ep = self.endpoints
        env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
        env.update(
            STUDIO_ENV="development",
            DATABASE_URL=ep.database_url,
            TEMPORAL_ADDRESS=ep.temporal_address,
            TEMPORAL_UI_URL=ep.temporal_ui_url,
            TEMPORAL_TASK_QUEUE=self.task_queue,
            S3_ENDPOINT_URL=ep.s3_endpoint_url,
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            GOOGLE_GEMINI_BASE_URL=self.emulator.url,
            API_PORT=str(self.api_port),
            TASK_CREATE_RATE_PER_MINUTE=str(UNLIMITED),
            TASK_CREATE_BURST=str(UNLIMITED),
            DAILY_IMAGE_QUOTA=str(UNLIMITED),
        )
        env.update(extra)
        return env

    async def restart_service(self, workers: int | None = None, extra_env: dict[str, str] | None = None) -> None:
        """Stop the API and workers (SIGKILL: what they were doing is abandoned with their task
        queue), then start them on a fresh task queue and wait until the API is ready."""
        await self.stop_service()
        self._generation += 1
        self.task_queue = f"bench-{self._generation}-{uuid.uuid4().hex[:6]}"
        env = self.service_env(extra_env or {})
        self.api = ManagedProcess("api", ["api", "--log-level", "warning"], env, self.root)
        self.api.start()
        for i in range(self.worker_count if workers is None else workers):
            worker_env = {**env, "WORKER_METRICS_BIND": f"127.0.0.1:{free_port()}"}
            worker = ManagedProcess(f"worker-{i}", ["worker", "--log-level", "warning"], worker_env, self.root)
            worker.start()
            self.workers.append(worker)
        await self.wait_api_ready()
        await asyncio.sleep(1.0)  # workers connect and start polling meanwhile

    def worker_pids(self) -> dict[str, int]:
        return {w.name: w.proc.pid for w in self.workers if w.proc is not None}

    async def stop_service(self) -> None:
        for proc in [*self.workers, *([self.api] if self.api else [])]:
            proc.kill()
            await asyncio.to_thread(proc.wait, 30)
        self.workers, self.api = [], None

    async def wait_api_ready(self, timeout_s: float = 60) -> None:
        await wait_api_ready(self.api_url, timeout_s, f"; see {self.root / 'api.log'}")

    async def start(self) -> None:
        self.endpoints = await asyncio.to_thread(self.stack.start)
        await self.emulator.start()
        self.sessions = create_session_factory(create_engine(self.endpoints.database_url))
        async with self.sessions() as session:
            user, self.api_key = await create_user(session, "bench")
            self.user_id = str(user.id)
            await session.commit()

    async def stop(self) -> None:
        await self.stop_service()
        self.emulator.stop()
        await asyncio.to_thread(self.stack.stop)

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, workers: int) -> AsyncIterator[BenchEnv]:
        keep = os.environ.get("BENCH_KEEP_DIR")
        with tempfile.TemporaryDirectory(prefix="bench-", dir=_state_parent()) as tmp:
            root = Path(keep) if keep else Path(tmp)
            root.mkdir(parents=True, exist_ok=True)
            env = cls(root, workers)
            try:
                await env.start()
                yield env
            finally:
                await env.stop()
