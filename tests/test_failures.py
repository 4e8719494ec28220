"""Failure semantics through the real chain: retries, blocks, and explained failures."""

from __future__ import annotations

import httpx

from gemini_emulator import EmulatorServer
from tests.helpers import create_project, create_task, wait_for_task


async def test_rate_limit_waits_retry_delay_then_succeeds(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(token, [{"kind": "rate_limit", "retry_delay_s": 4}])
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"a fox {token}")

    task = await wait_for_task(http, created["id"])

    assert task["status"] == "succeeded", task
    calls = emulator.calls(token)
    assert [c.outcome for c in calls] == ["rate_limit", "ok"]
    # Temporal waited RetryInfo.retryDelay (4 s), not the policy's 2 s first backoff.
    assert calls[1].at - calls[0].at >= 3.9


async def test_image_safety_block_fails_at_once_with_one_call(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(token, [{"kind": "finish_block", "reason": "IMAGE_SAFETY"}])
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"something unsafe {token}")

    task = await wait_for_task(http, created["id"])

    assert task["status"] == "failed"
    assert task["error"]["code"] == "content_blocked"
    assert "IMAGE_SAFETY" in task["error"]["message"]
    assert task["variations"][0]["error"]["code"] == "content_blocked"
    assert len(emulator.calls(token)) == 1  # never retried
    assets = await http.get(f"/api/v1/projects/{project_id}/rendered-assets")
    assert assets.json()["items"] == []  # no placeholder image, ever


async def test_prompt_block_reports_block_reason(http: httpx.AsyncClient, emulator: EmulatorServer, token: str) -> None:
    emulator.script(token, [{"kind": "prompt_block", "reason": "PROHIBITED_CONTENT"}])
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"blocked words {token}")

    task = await wait_for_task(http, created["id"])

    assert task["status"] == "failed"
    assert task["error"]["code"] == "content_blocked"
    assert "PROHIBITED_CONTENT" in task["error"]["message"]
    assert len(emulator.calls(token)) == 1


async def test_server_errors_are_retried(http: httpx.AsyncClient, emulator: EmulatorServer, token: str) -> None:
    emulator.script(token, [{"kind": "server_error", "code": 503}, {"kind": "server_error", "code": 500}])
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"a bridge {token}")

    task = await wait_for_task(http, created["id"])

    assert task["status"] == "succeeded", task
    assert [c.outcome for c in emulator.calls(token)] == ["server_error", "server_error", "ok"]


async def test_no_image_is_retried_a_bounded_number_of_times(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(token, [{"kind": "no_image", "reason": "NO_IMAGE"}] * 5)
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"an empty room {token}")

    task = await wait_for_task(http, created["id"])

    assert task["status"] == "failed"
    assert task["error"]["code"] == "no_image"
    assert len(emulator.calls(token)) == 3


async def test_partial_success_keeps_delivered_variations(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(token, [{"kind": "finish_block", "reason": "IMAGE_SAFETY"}])
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"two cats {token}", n=2)

    task = await wait_for_task(http, created["id"])

    assert task["status"] == "succeeded"
    states = sorted(v["state"] for v in task["variations"])
    assert states == ["failed", "succeeded"]
    failed = next(v for v in task["variations"] if v["state"] == "failed")
    assert failed["error"]["code"] == "content_blocked"
    assets = (await http.get(f"/api/v1/projects/{project_id}/rendered-assets")).json()["items"]
    assert len(assets) == 1
