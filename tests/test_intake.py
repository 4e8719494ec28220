"""Burst intake: a batch of tasks in one call with per-item outcomes and idempotency keys, a
daily quota that holds under concurrent creations without serialising them, and a creation
token bucket that lets a big job through at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx

from clients.settings import Settings
from db.session import SessionFactory
from db.usage import images_of_day, utc_day
from gemini_emulator import EmulatorServer
from tests.helpers import client_as_new_user, create_project, serve_api, wait_for_task


async def test_a_batch_creates_each_item_and_reports_each_refusal_in_place(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    project_id = await create_project(http)
    url = f"/api/v1/projects/{project_id}/tasks:batch"
    items = [
        {"name": "a", "prompt": f"a cat {token}", "idempotency_key": f"cat-{token}"},
        {"name": "b", "prompt": f"a dog {token}", "n": 2},
        {"name": "c", "prompt": f"a cow {token}", "n": 0},
        {"name": "d", "prompt": f"a pig {token}", "reference_asset_ids": [str(uuid.uuid4())]},
        {"name": "e", "prompt": f"a hen\u0000 {token}"},
    ]

    first = await http.post(url, json={"tasks": items})

    assert first.status_code == 200, first.text
    results = first.json()["items"]
    assert [r["status"] for r in results] == [202, 202, 422, 422, 422]
    assert results[2]["error"]["message"].startswith("tasks.2.n")
    assert "reference assets not found" in results[3]["error"]["message"]
    assert "U+0000" in results[4]["error"]["message"]
    created = [r["task"]["id"] for r in results[:2]]
    for task_id in created:
        assert (await wait_for_task(http, task_id))["status"] == "succeeded"
    assert sorted(c.prompt.split()[1] for c in emulator.calls(token)) == ["cat", "dog", "dog"]

    changed = {"name": "a", "prompt": "other", "idempotency_key": f"cat-{token}"}
    again = (await http.post(url, json={"tasks": [items[0], changed]})).json()["items"]
    assert [r["status"] for r in again] == [200, 422]
    assert again[0]["task"]["id"] == created[0]
    assert "Idempotency-Key" in again[1]["error"]["message"]
    listed = (await http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"]
    assert sorted(t["id"] for t in listed) == sorted(created)


async def test_a_batch_over_the_quota_creates_what_fits(http: httpx.AsyncClient) -> None:
    project = (await http.post("/api/v1/projects", json={"name": "q", "daily_image_quota": 3})).json()
    batch = {"tasks": [{"name": f"t{i}", "prompt": f"tile {i}"} for i in range(5)]}

    results = (await http.post(f"/api/v1/projects/{project['id']}/tasks:batch", json=batch)).json()["items"]

    assert [r["status"] for r in results] == [202, 202, 202, 429, 429]
    assert results[3]["error"]["code"] == "quota_exceeded"


async def test_the_daily_quota_holds_under_concurrent_creations(http: httpx.AsyncClient, token: str) -> None:
    project = (await http.post("/api/v1/projects", json={"name": "race", "daily_image_quota": 10})).json()
    url = f"/api/v1/projects/{project['id']}/tasks"

    answers = await asyncio.gather(
        *(http.post(url, json={"name": f"r{i}", "prompt": f"race {i} {token}"}) for i in range(20))
    )

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [202] * 10 + [429] * 10, statuses
    listed = (await http.get(url, params={"limit": 100})).json()["items"]
    assert len(listed) == 10


async def test_the_creation_bucket_lets_a_burst_through_then_paces(
    settings: Settings, sessions: SessionFactory, token: str
) -> None:
    limited = settings.model_copy(update={"task_create_burst": 5, "task_create_rate_per_minute": 6})
    async with serve_api(limited) as api, client_as_new_user(api.base_url, sessions) as http:
        project_id = await create_project(http)
        url = f"/api/v1/projects/{project_id}/tasks"
        burst = [await http.post(url, json={"name": "b", "prompt": f"burst {i} {token}"}) for i in range(5)]
        over = await http.post(url, json={"name": "b", "prompt": f"over {token}"})
        batch = await http.post(f"{url}:batch", json={"tasks": [{"name": "b", "prompt": "x"}] * 3})
        await asyncio.sleep(int(over.headers.get("retry-after", "5")))  # a token back (6 a minute)
        refilled = await http.post(url, json={"name": "b", "prompt": f"later {token}"})

    assert [b.status_code for b in burst] == [202] * 5
    assert over.status_code == 429 and over.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(over.headers["retry-after"]) <= 10
    assert batch.status_code == 429  # a batch takes its tokens up front, all or none
    assert refilled.status_code == 202


async def test_one_key_twice_in_a_batch_makes_one_task(
    http: httpx.AsyncClient, emulator: EmulatorServer, sessions: SessionFactory, token: str
) -> None:
    """Items are started concurrently: two items with one Idempotency-Key still name one task."""
    project_id = await create_project(http)
    item = {"name": "twin", "prompt": f"a twin {token}", "idempotency_key": f"twin-{token}"}

    answer = await http.post(f"/api/v1/projects/{project_id}/tasks:batch", json={"tasks": [item, dict(item)]})

    assert answer.status_code == 200, answer.text
    results = answer.json()["items"]
    assert sorted(r["status"] for r in results) == [200, 202]
    assert results[0]["task"]["id"] == results[1]["task"]["id"]
    assert (await wait_for_task(http, results[0]["task"]["id"]))["status"] == "succeeded"
    assert len(emulator.calls(token)) == 1
    async with sessions() as session:
        assert await images_of_day(session, uuid.UUID(project_id), utc_day(datetime.now(UTC))) == 1
