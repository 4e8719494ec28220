"""Asset lifecycle and access, list filters, and the limits that protect the bill."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from PIL import Image

from api.app import create_app
from clients.object_store import ObjectStore
from clients.settings import Settings
from db.session import SessionFactory
from db.users import create_user
from gemini_emulator import EmulatorServer
from tests.helpers import create_project, create_task, wait_for_task


async def _render(http: httpx.AsyncClient, project_id: str, prompt: str, **body: object) -> dict:
    created = await create_task(http, project_id, prompt=prompt, **body)
    return await wait_for_task(http, created["id"])


async def test_state_visibility_public_access_and_delete(
    http: httpx.AsyncClient, settings: Settings, token: str
) -> None:
    project_id = await create_project(http)
    task = await _render(http, project_id, f"a lamp {token}")
    asset_id = task["asset_ids"][0]
    public_url = f"/api/v1/public/assets/{asset_id}"
    async with httpx.AsyncClient(base_url=str(http.base_url)) as anonymous:
        assert (await anonymous.get(public_url)).status_code == 404  # private by default

        changed = await http.patch(
            f"/api/v1/rendered-assets/{asset_id}", json={"state": "approved", "visibility": "public"}
        )
        redirect = await anonymous.get(public_url)
        served = await anonymous.get(public_url, follow_redirects=True)

        assert changed.status_code == 200
        assert (changed.json()["state"], changed.json()["visibility"]) == ("approved", "public")
        # A short-lived presigned URL, not the bytes through the API; nothing may cache the redirect.
        assert redirect.status_code == 307, redirect.text
        assert redirect.headers["cache-control"] == "no-store"
        assert "X-Amz-Expires=60" in redirect.headers["location"], redirect.headers["location"]
        assert served.status_code == 200
        assert hashlib.sha256(served.content).hexdigest() == changed.json()["sha256"]
        assert Image.open(io.BytesIO(served.content)).size == (1024, 1024)

        private = await http.patch(f"/api/v1/rendered-assets/{asset_id}", json={"visibility": "private"})
        assert private.status_code == 200
        assert (await anonymous.get(public_url)).status_code == 404  # at once
        await http.patch(f"/api/v1/rendered-assets/{asset_id}", json={"visibility": "public"})
        assert (await anonymous.get(public_url)).status_code == 307

        bad = await http.patch(f"/api/v1/rendered-assets/{asset_id}", json={"state": "published"})
        assert bad.status_code == 422

        deleted = await http.delete(f"/api/v1/rendered-assets/{asset_id}")
        assert deleted.status_code == 204
        assert (await http.get(f"/api/v1/rendered-assets/{asset_id}")).status_code == 404
        assert (await anonymous.get(public_url)).status_code == 404
    async with ObjectStore.open(settings) as store:
        assert await store.head(changed.json()["file_key"]) is None


async def test_lists_filter_by_status_state_type_and_created_range(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(f"blocked {token}", [{"kind": "finish_block", "reason": "IMAGE_SAFETY"}])
    project_id = await create_project(http)
    ok = await _render(http, project_id, f"fine {token}")
    banner = await _render(http, project_id, f"wide {token}", asset_type="banner")
    blocked = await _render(http, project_id, f"blocked {token}")
    await http.patch(f"/api/v1/rendered-assets/{ok['asset_ids'][0]}", json={"state": "archived"})
    tasks_url = f"/api/v1/projects/{project_id}/tasks"
    assets_url = f"/api/v1/projects/{project_id}/rendered-assets"

    async def ids(url: str, **params: str) -> list[str]:
        return [item["id"] for item in (await http.get(url, params=params)).json()["items"]]

    for _ in range(40):  # visibility lags about a second behind the last close
        if await ids(tasks_url, status="failed") == [blocked["id"]]:
            break
        await asyncio.sleep(0.25)
    assert await ids(tasks_url, status="failed") == [blocked["id"]]
    assert await ids(tasks_url, status="succeeded") == [banner["id"], ok["id"]]
    assert await ids(tasks_url, status="canceled") == []
    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert await ids(tasks_url, created_after=future) == []
    assert len(await ids(tasks_url, created_before=future)) == 3
    assert await ids(assets_url, state="archived") == ok["asset_ids"]
    assert await ids(assets_url, asset_type="banner") == banner["asset_ids"]
    assert await ids(assets_url, state="draft", asset_type="image") == []
    assert (await http.get(tasks_url, params={"status": "sleeping"})).status_code == 422


@pytest.fixture
async def strict_api(settings: Settings, sessions: SessionFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The real API with tight limits: a bucket of 3 creations refilled at 3 a minute, 8 KiB bodies."""
    limits = {"task_create_burst": 3, "task_create_rate_per_minute": 3, "max_body_bytes": 8192}
    app = create_app(settings.model_copy(update=limits))
    async with sessions() as session:
        _, key = await create_user(session, "limited")
        await session.commit()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", headers={"Authorization": f"Bearer {key}"}
        ) as client,
    ):
        yield client


async def test_task_creation_is_rate_limited_per_user(
    strict_api: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    project_id = await create_project(strict_api)
    answers = [
        await strict_api.post(f"/api/v1/projects/{project_id}/tasks", json={"name": "t", "prompt": f"r{i} {token}"})
        for i in range(4)
    ]

    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert answers[3].json()["error"]["code"] == "rate_limited"
    assert 1 <= int(answers[3].headers["retry-after"]) <= 60
    assert not [c for c in emulator.calls(token) if c.prompt.startswith("r3 ")]


async def test_daily_image_quota_is_enforced_before_any_model_call(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    project = (await http.post("/api/v1/projects", json={"name": "q", "daily_image_quota": 3})).json()
    url = f"/api/v1/projects/{project['id']}/tasks"

    first = await http.post(url, json={"name": "a", "prompt": f"first {token}", "n": 2})
    over = await http.post(url, json={"name": "b", "prompt": f"second {token}", "n": 2})
    fits = await http.post(url, json={"name": "c", "prompt": f"third {token}", "n": 1})

    assert (first.status_code, over.status_code, fits.status_code) == (202, 429, 202)
    assert over.json()["error"]["code"] == "quota_exceeded"
    assert "3" in over.json()["error"]["message"]
    await wait_for_task(http, fits.json()["id"])
    assert not [c for c in emulator.calls(token) if c.prompt.startswith("second")]


async def test_oversized_bodies_are_413(strict_api: httpx.AsyncClient) -> None:
    project_id = await create_project(strict_api)
    big = {"name": "t", "prompt": "x" * 3000, "description": "y" * 9000}

    response = await strict_api.post(f"/api/v1/projects/{project_id}/tasks", json=big)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
