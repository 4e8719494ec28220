"""Retry: a new task, linked to the old one, that renders only what was not delivered."""

from __future__ import annotations

import uuid

import httpx
from temporalio.testing import ActivityEnvironment

from activities.gemini import GeminiActivities, build_gemini_client
from clients.object_store import ObjectStore
from clients.settings import Settings
from gemini_emulator import EmulatorServer
from kernel.object_keys import staging_key
from kernel.payloads import GenerateImageInput, PromptPlan
from tests.helpers import create_project, create_task, wait_for_task


async def test_retry_of_a_partly_delivered_task_renders_only_the_missing_variation(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(token, [{"kind": "finish_block", "reason": "IMAGE_SAFETY"}])
    project_id = await create_project(http)
    first = await wait_for_task(http, (await create_task(http, project_id, prompt=f"pair {token}", n=2))["id"])
    assert sorted(v["state"] for v in first["variations"]) == ["failed", "succeeded"]

    response = await http.post(f"/api/v1/tasks/{first['id']}/retry")
    retry = await wait_for_task(http, response.json()["id"])

    assert response.status_code == 202
    assert retry["retry_of_task_id"] == first["id"]
    assert retry["parameters"]["n"] == 1
    assert retry["status"] == "succeeded"
    assert len(emulator.calls(token)) == 3  # 2 for the task, 1 for the retry: nothing paid twice
    assets = (await http.get(f"/api/v1/projects/{project_id}/rendered-assets")).json()["items"]
    assert len(assets) == 2


async def test_retry_of_a_failed_task_and_refusals(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(f"once {token}", [{"kind": "prompt_block", "reason": "OTHER"}])
    emulator.script(f"slow {token}", [{"kind": "hang", "seconds": 20}])
    project_id = await create_project(http)
    failed = await wait_for_task(http, (await create_task(http, project_id, prompt=f"once {token}"))["id"])
    done = await wait_for_task(http, (await create_task(http, project_id, prompt=f"fine {token}"))["id"])
    running = await create_task(http, project_id, prompt=f"slow {token}")

    retried = await http.post(f"/api/v1/tasks/{failed['id']}/retry")
    of_done = await http.post(f"/api/v1/tasks/{done['id']}/retry")
    of_running = await http.post(f"/api/v1/tasks/{running['id']}/retry")

    assert failed["status"] == "failed"
    assert retried.status_code == 202
    assert (await wait_for_task(http, retried.json()["id"]))["status"] == "succeeded"
    assert of_done.status_code == of_running.status_code == 409
    await http.post(f"/api/v1/tasks/{running['id']}/cancel")


async def test_an_image_staged_by_the_earlier_task_is_reused_not_paid_again(
    emulator: EmulatorServer, settings: Settings, token: str
) -> None:
    project_id, old_task, new_task = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    plan = PromptPlan(prompt=f"staged {token}", model="gemini-3-pro-image-preview", aspect_ratio="1:1")
    async with ObjectStore.open(settings) as store:
        activities = GeminiActivities(build_gemini_client(settings), store)
        earlier = await ActivityEnvironment().run(
            activities.generate_image,
            GenerateImageInput(task_id=old_task, project_id=project_id, variation_index=1, plan=plan),
        )
        again = await ActivityEnvironment().run(
            activities.generate_image,
            GenerateImageInput(
                task_id=new_task,
                project_id=project_id,
                variation_index=0,
                plan=plan,
                reuse_staging_key=staging_key(project_id, old_task, 1),
            ),
        )

    assert again.model_called is False
    assert again.staged.key == staging_key(project_id, new_task, 0)
    assert again.staged.sha256 == earlier.staged.sha256
    assert len(emulator.calls(token)) == 1
