"""Bad input is a clear 4xx and never reaches the model; auth and ownership are enforced."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gemini_emulator import EmulatorServer
from tests.helpers import create_project, create_task


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "gemini-2.5-flash-image", "image_size": "2K"}, "image_size is not supported"),
        ({"aspect_ratio": "7:3"}, "aspect_ratio"),
        ({"image_size": "1k"}, "image_size"),
        ({"n": 9}, "n"),
        ({"n": 0}, "n"),
        ({"model": "dall-e-3"}, "model"),
        ({"prompt": "   \u200b "}, "prompt has no visible text"),
        ({"prompt": "x" * 4001}, "prompt"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_invalid_task_is_rejected_before_any_model_call(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str, body: dict[str, Any], fragment: str
) -> None:
    project_id = await create_project(http)
    payload = {"name": "bad", "prompt": f"a tree {token}", **body}

    response = await http.post(f"/api/v1/projects/{project_id}/tasks", json=payload)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert fragment in error["message"]
    assert emulator.calls(token) == []
    tasks = await http.get(f"/api/v1/projects/{project_id}/tasks")
    assert tasks.json()["items"] == []


async def test_missing_or_wrong_api_key_is_401(api_server: Any) -> None:
    async with httpx.AsyncClient(base_url=api_server.base_url) as anonymous:
        missing = await anonymous.get("/api/v1/projects")
        wrong = await anonymous.get("/api/v1/projects", headers={"Authorization": "Bearer rs_not-a-key"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_other_users_project_task_and_asset_are_404(
    http: httpx.AsyncClient, other_http: httpx.AsyncClient, token: str
) -> None:
    from tests.helpers import wait_for_task

    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"a bird {token}")
    task = await wait_for_task(http, created["id"])
    asset_id = task["asset_ids"][0]

    for path in (
        f"/api/v1/projects/{project_id}",
        f"/api/v1/projects/{project_id}/tasks",
        f"/api/v1/projects/{project_id}/rendered-assets",
        f"/api/v1/tasks/{created['id']}",
        f"/api/v1/rendered-assets/{asset_id}",
    ):
        response = await other_http.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    intruder = await other_http.post(f"/api/v1/projects/{project_id}/tasks", json={"name": "x", "prompt": "y"})
    assert intruder.status_code == 404
    own = await http.get(f"/api/v1/rendered-assets/{asset_id}")
    assert own.status_code == 200


async def test_projects_are_listed_newest_first_with_cursor(http: httpx.AsyncClient) -> None:
    ids = [await create_project(http, f"p{i}") for i in range(3)]

    first = (await http.get("/api/v1/projects", params={"limit": 2})).json()
    second = (await http.get("/api/v1/projects", params={"limit": 2, "cursor": first["next_cursor"]})).json()

    assert [p["id"] for p in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None
    bad = await http.get("/api/v1/projects", params={"cursor": "garbage!"})
    assert bad.status_code == 422
