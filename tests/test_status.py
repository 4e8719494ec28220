"""Task status is derived from the workflow's state, for every terminal state Temporal has."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from temporalio.client import Client

from clients.settings import Settings
from db.session import SessionFactory
from gemini_emulator import EmulatorServer
from kernel.payloads import RenderParams, RenderTaskInput
from tests.helpers import create_project, create_task, insert_task_row, wait_for_task
from workflows.render_task import RenderTaskWorkflow


async def _wait_until_generating(http: httpx.AsyncClient, task_id: str) -> dict:
    return await wait_for_task(http, task_id, statuses={"running"}, timeout_s=30)


async def test_running_task_reports_stage_and_variation_progress(
    http: httpx.AsyncClient, emulator: EmulatorServer, temporal: Client, token: str
) -> None:
    emulator.script(token, [{"kind": "hang", "seconds": 8}])
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"slow {token}")

    running = await _wait_until_generating(http, created["id"])
    while running["stage"] != "generating":
        await asyncio.sleep(0.2)
        running = (await http.get(f"/api/v1/tasks/{created['id']}")).json()

    assert running["variations"] == [
        {"index": 0, "state": "generating", "asset_id": None, "error": None, "retry": None, "batch_job": None}
    ]
    listed = (await http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"]
    assert [(t["id"], t["status"]) for t in listed] == [(created["id"], "running")]
    await temporal.get_workflow_handle(created["workflow_id"]).terminate(reason="test cleanup")


async def test_canceled_workflow_reads_canceled(
    http: httpx.AsyncClient, emulator: EmulatorServer, temporal: Client, token: str
) -> None:
    emulator.script(token, [{"kind": "hang", "seconds": 20}])
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"to cancel {token}")
    await _wait_until_generating(http, created["id"])

    await temporal.get_workflow_handle(created["workflow_id"]).cancel()
    task = await wait_for_task(http, created["id"])

    assert task["status"] == "canceled"
    assert task["error"]["code"] == "canceled"


async def test_terminated_workflow_reads_terminated(
    http: httpx.AsyncClient, emulator: EmulatorServer, temporal: Client, token: str
) -> None:
    emulator.script(token, [{"kind": "hang", "seconds": 20}])
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"to terminate {token}")
    await _wait_until_generating(http, created["id"])

    await temporal.get_workflow_handle(created["workflow_id"]).terminate(reason="operator says stop")
    task = await wait_for_task(http, created["id"])

    assert task["status"] == "terminated"
    assert "operator says stop" in task["error"]["message"]
    listed = (await http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"]
    assert listed[0]["status"] == "terminated"


async def test_timed_out_workflow_reads_timed_out(
    http: httpx.AsyncClient,
    emulator: EmulatorServer,
    temporal: Client,
    settings: Settings,
    sessions: SessionFactory,
    token: str,
) -> None:
    """A workflow run past its execution timeout (as an operator may set) reads timed_out."""
    emulator.script(token, [{"kind": "hang", "seconds": 20}])
    project_id = await create_project(http)
    prompt = f"too slow {token}"
    async with sessions() as session:
        task_id, workflow_id = await insert_task_row(session, project_id, prompt)
    await temporal.start_workflow(
        RenderTaskWorkflow.run,
        RenderTaskInput(
            task_id=task_id,
            project_id=project_id,
            prompt=prompt,
            params=RenderParams(model="gemini-3-pro-image-preview"),
        ),
        id=workflow_id,
        task_queue=settings.temporal_task_queue,
        execution_timeout=timedelta(seconds=2),
    )

    result = await wait_for_task(http, task_id)

    assert result["status"] == "timed_out"
    assert result["error"]["code"] == "timed_out"


async def test_task_whose_workflow_is_not_visible_yet_is_queued(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    project_id = await create_project(http)
    async with sessions() as session:
        task_id, _ = await insert_task_row(session, project_id, "p")

    detail = (await http.get(f"/api/v1/tasks/{task_id}")).json()
    listed = (await http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"]

    assert detail["status"] == "queued"
    assert listed[0]["status"] == "queued"


async def test_cancelling_a_task_temporal_no_longer_knows_is_409(
    http: httpx.AsyncClient, sessions: SessionFactory, token: str
) -> None:
    """A task past Temporal's retention (its workflow gone) is finished, not an outage."""
    project_id = await create_project(http)
    async with sessions() as session:
        task_id, _ = await insert_task_row(session, project_id, f"forgotten {token}")

    answer = await http.post(f"/api/v1/tasks/{task_id}/cancel")

    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["message"] == "task already finished"
