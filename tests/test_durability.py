"""Durability semantics through the real services: idempotent and crash-safe creation,
cancellation that stops paid work, deadlines, pay-once, and retries surfaced while running."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.gemini import GeminiActivities, build_gemini_client
from clients.object_store import ObjectStore
from clients.settings import Settings
from db.session import SessionFactory
from db.tasks import get_task
from gemini_emulator import EmulatorServer
from kernel.object_keys import task_prefixes
from kernel.payloads import GenerateImageInput, PromptPlan
from tests.helpers import create_project, create_task, start_render_workflow, wait_for_row, wait_for_task


async def _task_objects(settings: Settings, project_id: str, task_id: str) -> list[str]:
    async with ObjectStore.open(settings) as store:
        return [key for prefix in task_prefixes(project_id, task_id) for key in await store.list_keys(prefix)]


async def test_idempotency_key_returns_the_same_task_and_starts_one_workflow(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    project_id = await create_project(http)
    body = {"name": "once", "prompt": f"a kite {token}"}
    headers = {"Idempotency-Key": f"key-{token}"}
    url = f"/api/v1/projects/{project_id}/tasks"

    first = await http.post(url, json=body, headers=headers)
    again = await asyncio.gather(*(http.post(url, json=body, headers=headers) for _ in range(4)))
    other = await http.post(url, json={**body, "prompt": "another prompt"}, headers=headers)

    assert first.status_code == 202
    assert [r.status_code for r in again] == [200] * 4
    assert {r.json()["id"] for r in again} == {first.json()["id"]}
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["error"]["message"]
    await wait_for_task(http, first.json()["id"])
    assert len(emulator.calls(token)) == 1  # one workflow, one model call
    listed = (await http.get(url)).json()["items"]
    assert [t["id"] for t in listed] == [first.json()["id"]]


async def test_concurrent_first_requests_with_one_key_create_one_task(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    project_id = await create_project(http)
    body = {"name": "race", "prompt": f"a race {token}"}
    url = f"/api/v1/projects/{project_id}/tasks"

    answers = await asyncio.gather(*(http.post(url, json=body, headers={"Idempotency-Key": token}) for _ in range(5)))

    assert sorted(r.status_code for r in answers) == [200, 200, 200, 200, 202]
    assert len({r.json()["id"] for r in answers}) == 1
    await wait_for_task(http, answers[0].json()["id"])
    assert len(emulator.calls(token)) == 1


async def test_workflow_started_without_its_row_writes_the_row_and_completes(
    http: httpx.AsyncClient, temporal: Client, settings: Settings, sessions: SessionFactory, token: str
) -> None:
    """The API died after starting the workflow and before inserting the row: nothing is lost."""
    project_id = await create_project(http)
    task_id, _ = await start_render_workflow(
        temporal, settings.temporal_task_queue, project_id, f"orphan start {token}", name="crash-window"
    )

    await wait_for_row(http, task_id)
    task = await wait_for_task(http, task_id)

    assert task["status"] == "succeeded"
    assert task["name"] == "crash-window"
    async with sessions() as session:
        assert await get_task(session, uuid.UUID(task_id)) is not None


async def test_cancel_stops_the_model_call_and_leaves_nothing_behind(
    http: httpx.AsyncClient, emulator: EmulatorServer, settings: Settings, token: str
) -> None:
    # Variation A finishes and is published; variation B hangs in the model call for 60 s.
    emulator.script(token, [{"kind": "ok"}, {"kind": "hang", "seconds": 60}])
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"cancel me {token}", n=2)
    deadline = time.monotonic() + 30
    while True:
        task = (await http.get(f"/api/v1/tasks/{created['id']}")).json()
        if sorted(v["state"] for v in task["variations"]) == ["generating", "succeeded"]:
            break
        assert time.monotonic() < deadline, task
        await asyncio.sleep(0.2)

    started = time.monotonic()
    response = await http.post(f"/api/v1/tasks/{created['id']}/cancel")
    task = await wait_for_task(http, created["id"])

    assert response.status_code == 202
    assert task["status"] == "canceled"
    # The hung call was cancelled through its heartbeat, not waited out (60 s).
    assert time.monotonic() - started < 20
    assert len(emulator.calls(token)) == 2
    assets = (await http.get(f"/api/v1/projects/{project_id}/rendered-assets")).json()["items"]
    assert assets == []
    assert await _task_objects(settings, project_id, created["id"]) == []
    again = await http.post(f"/api/v1/tasks/{created['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


async def test_cancel_of_a_succeeded_task_is_409(http: httpx.AsyncClient, token: str) -> None:
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"done {token}")
    await wait_for_task(http, created["id"])

    response = await http.post(f"/api/v1/tasks/{created['id']}/cancel")

    assert response.status_code == 409


async def test_deadline_fails_the_task_timed_out_with_what_was_tried(
    http: httpx.AsyncClient, emulator: EmulatorServer, temporal: Client, settings: Settings, token: str
) -> None:
    emulator.script(token, [{"kind": "server_error", "code": 503}] * 50)
    project_id = await create_project(http)
    task_id, _ = await start_render_workflow(
        temporal, settings.temporal_task_queue, project_id, f"never {token}", deadline_s=5
    )

    await wait_for_row(http, task_id)
    task = await wait_for_task(http, task_id, timeout_s=30)

    assert task["status"] == "timed_out"
    assert task["error"]["code"] == "timed_out"
    assert "503" in task["error"]["message"]
    assert 2 <= len(emulator.calls(token)) <= 4  # retried with backoff until the deadline


async def test_rate_limited_retry_is_visible_while_running(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(token, [{"kind": "rate_limit", "retry_delay_s": 6}])
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"busy {token}")

    deadline = time.monotonic() + 5
    retry = None
    while retry is None and time.monotonic() < deadline:
        task = (await http.get(f"/api/v1/tasks/{created['id']}")).json()
        retry = task["variations"][0]["retry"] if task["variations"] else None
        await asyncio.sleep(0.2)

    assert retry is not None
    assert retry["code"] == "rate_limited"
    assert retry["attempt"] == 2
    assert "RESOURCE_EXHAUSTED" in retry["message"]
    assert (await wait_for_task(http, created["id"]))["status"] == "succeeded"


async def test_generate_image_retry_after_staging_does_not_call_the_model_again(
    emulator: EmulatorServer, settings: Settings, token: str
) -> None:
    """Pay once: an attempt that finds the image staged returns it without a model call."""
    inp = GenerateImageInput(
        task_id=str(uuid.uuid4()),
        project_id=str(uuid.uuid4()),
        variation_index=0,
        plan=PromptPlan(prompt=f"paid {token}", model="gemini-3-pro-image-preview", aspect_ratio="1:1"),
    )
    async with ObjectStore.open(settings) as store:
        activities = GeminiActivities(build_gemini_client(settings), store)
        first = await ActivityEnvironment().run(activities.generate_image, inp)
        second = await ActivityEnvironment().run(activities.generate_image, inp)

    assert (first.model_called, second.model_called) == (True, False)
    assert second.staged == first.staged
    assert len(emulator.calls(token)) == 1
