"""Small helpers shared by the API tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from api.http_protocol import server_config
from clients.settings import Settings
from db.session import SessionFactory
from db.users import create_user
from studio.embedded_server import EmbeddedServer
from studio.localstack.ports import free_port
from studio.replay import replay_history
from web.app import create_site

TERMINAL = {"succeeded", "failed", "canceled", "timed_out", "terminated"}
HISTORIES = Path(__file__).parent / "histories"


async def create_project(http: httpx.AsyncClient, name: str = "demo") -> str:
    response = await http.post("/api/v1/projects", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create_task(http: httpx.AsyncClient, project_id: str, **body: Any) -> dict[str, Any]:
    payload = {"name": "task", **body}
    response = await http.post(f"/api/v1/projects/{project_id}/tasks", json=payload)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def wait_for_task(
    http: httpx.AsyncClient, task_id: str, statuses: set[str] = TERMINAL, timeout_s: float = 90
) -> dict[str, Any]:
    """Poll GET /tasks/{id} until its status is in `statuses`."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await http.get(f"/api/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        task = dict(response.json())
        if task["status"] in statuses:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task stuck in {task['status']}/{task['stage']}: {task}")
        await asyncio.sleep(0.25)


async def wait_for_row(http: httpx.AsyncClient, task_id: str, timeout_s: float = 10) -> None:
    """Wait until GET /tasks/{id} stops answering 404 (for workflows started without their row,
    whose first activity writes it)."""
    deadline = time.monotonic() + timeout_s
    while (await http.get(f"/api/v1/tasks/{task_id}")).status_code == 404:
        assert time.monotonic() < deadline, "the workflow never wrote its task row"
        await asyncio.sleep(0.1)


async def start_render_workflow(
    temporal: Client, task_queue: str, project_id: str, prompt: str, **fields: Any
) -> tuple[str, WorkflowHandle[Any, Any]]:
    """Start a RenderTaskWorkflow the way the API does, without the API (for tests of crash
    windows, deadlines and versioning); returns (task id, handle)."""
    from kernel.payloads import RenderParams, RenderTaskInput
    from workflows.render_task import RenderTaskWorkflow

    task_id = str(uuid.uuid4())
    handle = await temporal.start_workflow(
        RenderTaskWorkflow.run,
        RenderTaskInput(
            task_id=task_id,
            project_id=project_id,
            prompt=prompt,
            params=RenderParams(model="gemini-3-pro-image-preview"),
            **fields,
        ),
        id=f"task-{task_id}",
        task_queue=task_queue,
    )
    return task_id, handle


async def insert_task_row(session: AsyncSession, project_id: str, prompt: str) -> tuple[str, str]:
    """A task row with no workflow behind it (as an API that died before starting one would
    have left in an older design); returns (task id, workflow id). Commits."""
    from db.tasks import insert_task_if_absent
    from kernel.contract import workflow_id_for

    task_id = uuid.uuid4()
    await insert_task_if_absent(
        session,
        task_id=task_id,
        project_id=uuid.UUID(project_id),
        name="t",
        description=None,
        prompt=prompt,
        parameters={"model": "gemini-3-pro-image-preview"},
    )
    await session.commit()
    return str(task_id), workflow_id_for(task_id)


async def assert_replays(history: WorkflowHistory, name: str) -> None:
    """Assert `history` replays against the current workflow code (no nondeterminism error).
    With STUDIO_RECORD_HISTORIES=1 also write it as tests/histories/`name`.json, which
    tests/test_replay.py then replays on every run once committed."""
    result = await replay_history(history)
    assert result.replay_failure is None, (name, result.replay_failure)
    if os.environ.get("STUDIO_RECORD_HISTORIES") == "1":
        (HISTORIES / f"{name}.json").write_text(history.to_json())


@dataclass
class ApiServer:
    base_url: str


@contextlib.asynccontextmanager
async def serve_api(settings: Settings) -> AsyncIterator[ApiServer]:
    """A new site app (the API and the web studio) for `settings`, served by uvicorn on a free
    loopback port."""
    port = free_port()
    server = EmbeddedServer(
        server_config(create_site(settings), "127.0.0.1", port, log_level="warning", timeout_graceful_shutdown=1)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield ApiServer(f"http://127.0.0.1:{port}")
    server.should_exit = True
    await task


@contextlib.asynccontextmanager
async def client_as_new_user(base_url: str, sessions: SessionFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with sessions() as session:
        _, key = await create_user(session, f"user-{uuid.uuid4().hex[:8]}")
        await session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        yield client
