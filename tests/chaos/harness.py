"""A scenario's world: the embedded stack, an S3 fault proxy, API and worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from clients.settings import Settings
from db.session import SessionFactory, create_engine, create_session_factory
from db.users import create_user
from gemini_emulator import EmulatorServer
from studio.localstack import LocalStack
from studio.localstack.ports import free_port
from tests.chaos.processes import ManagedProcess, wait_api_ready
from tests.chaos.s3_proxy import S3FaultProxy


class ChaosEnv:
    """Everything a scenario drives. Use `async with ChaosEnv.running(...) as env`."""

    def __init__(self, root: Path, workers: int, deadline_s: float) -> None:
        self.root = root
        self.deadline_s = deadline_s
        self.stack = LocalStack(
            root / "stack",
            Settings(_env_file=None, gemini_api_key=None, gemini_base_url=None),
            ephemeral_ports=True,
            with_emulator=True,
        )
        self.api_port = free_port()
        self.proxy: S3FaultProxy | None = None
        self.workers: list[ManagedProcess] = []
        self.api: ManagedProcess | None = None
        self.worker_count = workers
        self.api_key = ""
        self.sessions: SessionFactory | None = None
        self.task_queue = f"chaos-{uuid.uuid4().hex[:8]}"

    @property
    def emulator(self) -> EmulatorServer:
        assert self.stack.emulator is not None
        return self.stack.emulator

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def process_env(self) -> dict[str, str]:
        assert self.stack.endpoints is not None and self.proxy is not None
        ep = self.stack.endpoints
        env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
        env.update(
            STUDIO_ENV="development",
            DATABASE_URL=ep.database_url,
            TEMPORAL_ADDRESS=ep.temporal_address,
            TEMPORAL_UI_URL=ep.temporal_ui_url,
            TEMPORAL_TASK_QUEUE=self.task_queue,
            S3_ENDPOINT_URL=self.proxy.url,
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            GOOGLE_GEMINI_BASE_URL=ep.gemini_base_url or "",
            GEMINI_TIMEOUT_S="5",
            TASK_DEADLINE_S=str(self.deadline_s),
            API_PORT=str(self.api_port),
            # Bursts of hundreds of creations are the point here, not the bill.
            TASK_CREATE_RATE_PER_MINUTE="100000",
            DAILY_IMAGE_QUOTA="100000",
        )
        return env

    def new_worker(self) -> ManagedProcess:
        # Each worker serves its metrics on its own port (two cannot share one).
        env = {**self.process_env(), "WORKER_METRICS_BIND": f"127.0.0.1:{free_port()}"}
        worker = ManagedProcess(f"worker-{len(self.workers)}", ["worker", "--log-level", "warning"], env, self.root)
        self.workers.append(worker)
        worker.start()
        return worker

    def start_api(self) -> None:
        self.api = ManagedProcess("api", ["api", "--log-level", "warning"], self.process_env(), self.root)
        self.api.start()

    async def wait_api_ready(self, timeout_s: float = 60) -> None:
        await wait_api_ready(self.api_url, timeout_s)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api_url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30)

    async def start(self) -> None:
        await asyncio.to_thread(self.stack.start)
        assert self.stack.endpoints is not None
        self.proxy = S3FaultProxy(self.stack.endpoints.s3_endpoint_url, free_port())
        await self.proxy.start()
        self.sessions = create_session_factory(create_engine(self.stack.endpoints.database_url))
        async with self.sessions() as session:
            _, self.api_key = await create_user(session, "chaos")
            await session.commit()
        self.start_api()
        for _ in range(self.worker_count):
            self.new_worker()
        await self.wait_api_ready()

    async def stop(self) -> None:
        for proc in [*self.workers, *([self.api] if self.api else [])]:
            await asyncio.to_thread(proc.stop)
        if self.proxy is not None:
            await self.proxy.stop()
        await asyncio.to_thread(self.stack.stop)

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, workers: int = 2, deadline_s: float = 120) -> AsyncIterator[ChaosEnv]:
        with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
            env = cls(Path(tmp), workers, deadline_s)
            try:
                await env.start()
                yield env
            finally:
                await env.stop()
