"""Session fixtures: the real local stack (Temporal dev server, embedded Postgres, SeaweedFS S3,
the Gemini emulator over HTTP), a real worker, and the real API served by uvicorn on loopback.

Nothing of ours is mocked. Each test isolates itself with its own user, project and a unique
token in its prompts (the emulator scripts outcomes by prompt substring).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from clients.settings import Settings
from clients.temporal_client import connect
from db.session import SessionFactory, create_engine, create_session_factory
from gemini_emulator import EmulatorServer
from studio.localstack import LocalStack, StackEndpoints
from studio.worker import render_worker
from tests.helpers import ApiServer, client_as_new_user, serve_api

TASK_DEADLINE_S = 60.0


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The whole embedded stack on free ports, started once per test session."""
    base = Settings(_env_file=None, gemini_api_key=None, gemini_base_url=None)
    local = LocalStack(Path(tmp_path_factory.mktemp("stack")), base, ephemeral_ports=True, with_emulator=True)
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="session")
def endpoints(stack: LocalStack) -> StackEndpoints:
    assert stack.endpoints is not None
    return stack.endpoints


@pytest.fixture(scope="session")
def emulator(stack: LocalStack) -> EmulatorServer:
    assert stack.emulator is not None
    return stack.emulator


@pytest.fixture(scope="session")
def settings(endpoints: StackEndpoints) -> Settings:
    """Settings pointed at the stack, with a short task deadline and a session task queue."""
    base = Settings(
        _env_file=None,
        gemini_api_key=None,
        gemini_base_url=None,
        temporal_task_queue=f"render-tasks-{uuid.uuid4()}",
        task_deadline_s=TASK_DEADLINE_S,
        # The suite's bursts must not wait on pacing; tests/test_pacing.py sets its own quota.
        gemini_images_per_minute=60_000,
    )
    return endpoints.apply(base)


@pytest.fixture(scope="session")
async def temporal(settings: Settings) -> Client:
    return await connect(settings)


@pytest.fixture(scope="session")
async def worker(temporal: Client, settings: Settings) -> AsyncIterator[None]:
    """A real worker polling the session's task queue."""
    async with render_worker(temporal, settings) as w:
        task = asyncio.create_task(w.run())
        yield
        await w.shutdown()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture(scope="session")
async def api_server(settings: Settings, worker: None) -> AsyncIterator[ApiServer]:
    """The API served by uvicorn on a free loopback port."""
    async with serve_api(settings) as server:
        yield server


@pytest.fixture(scope="session")
async def sessions(settings: Settings) -> AsyncIterator[SessionFactory]:
    engine = create_engine(settings.database_url)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def http(api_server: ApiServer, sessions: SessionFactory) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client authenticated as a fresh user."""
    async with client_as_new_user(api_server.base_url, sessions) as client:
        yield client


@pytest.fixture
async def other_http(api_server: ApiServer, sessions: SessionFactory) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client authenticated as a second, unrelated user."""
    async with client_as_new_user(api_server.base_url, sessions) as client:
        yield client


@pytest.fixture
def token() -> str:
    """A unique word to put in prompts, so emulator scripts and call counts are per test."""
    return f"tok{uuid.uuid4().hex[:12]}"
