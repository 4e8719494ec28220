"""Variations and review: the workflow waits durably for a decision sent as a workflow Update."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.helpers import create_project, create_task, wait_for_task


async def _awaiting_review(http: httpx.AsyncClient, task_id: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        task = (await http.get(f"/api/v1/tasks/{task_id}")).json()
        if task["stage"] == "awaiting_review":
            return task
        assert time.monotonic() < deadline, task
        await asyncio.sleep(0.2)


async def _states(http: httpx.AsyncClient, asset_ids: list[str]) -> list[str]:
    return [(await http.get(f"/api/v1/rendered-assets/{a}")).json()["state"] for a in asset_ids]


async def test_review_picks_the_winner_and_archives_the_rest(http: httpx.AsyncClient, token: str) -> None:
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"pick one {token}", n=3, review=True)
    task = await _awaiting_review(http, created["id"])
    assert task["status"] == "running"
    asset_ids = [v["asset_id"] for v in task["variations"]]
    assert await _states(http, asset_ids) == ["draft"] * 3  # the images are usable while waiting
    url = f"/api/v1/tasks/{created['id']}/review"

    foreign = await http.post(url, json={"winner": "00000000-0000-0000-0000-000000000001"})
    chosen = await http.post(url, json={"winner": asset_ids[1]})
    second = await http.post(url, json={"winner": asset_ids[0]})
    done = await wait_for_task(http, created["id"])

    assert foreign.status_code == 422
    assert "not one of this task's variations" in foreign.json()["error"]["message"]
    assert chosen.status_code == 200
    assert chosen.json() == {
        "decided_by": "user",
        "winner_asset_id": asset_ids[1],
        "approved": [asset_ids[1]],
        "archived": [asset_ids[0], asset_ids[2]],
    }
    assert second.status_code == 409
    assert done["status"] == "succeeded"
    assert done["review"]["winner_asset_id"] == asset_ids[1]
    assert await _states(http, asset_ids) == ["archived", "approved", "archived"]


async def test_review_left_too_long_expires_to_the_default(http: httpx.AsyncClient, token: str) -> None:
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"nobody looks {token}", n=2, review=True, review_timeout_s=5)

    done = await wait_for_task(http, created["id"], timeout_s=60)

    asset_ids = [v["asset_id"] for v in done["variations"]]
    assert done["review"]["decided_by"] == "expiry"
    assert await _states(http, asset_ids) == ["approved", "archived"]  # REVIEW_EXPIRY_ACTION=approve_first


async def test_review_needs_variations_and_a_waiting_task(http: httpx.AsyncClient, token: str) -> None:
    project_id = await create_project(http)
    single = await http.post(f"/api/v1/projects/{project_id}/tasks", json={"name": "t", "prompt": "x", "review": True})
    plain = await create_task(http, project_id, prompt=f"no review {token}", n=2)
    await wait_for_task(http, plain["id"])
    late = await http.post(f"/api/v1/tasks/{plain['id']}/review", json={"winner": plain["id"]})

    assert single.status_code == 422
    assert late.status_code == 409


async def test_canceling_while_awaiting_review_removes_the_assets_with_their_images(
    http: httpx.AsyncClient, token: str
) -> None:
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"never mind {token}", n=2, review=True)
    task = await _awaiting_review(http, created["id"])
    asset_ids = [v["asset_id"] for v in task["variations"]]
    public = await http.patch(f"/api/v1/rendered-assets/{asset_ids[0]}", json={"visibility": "public"})
    assert public.status_code == 200

    assert (await http.post(f"/api/v1/tasks/{created['id']}/cancel")).status_code == 202
    assert (await wait_for_task(http, created["id"]))["status"] == "canceled"

    listed = await http.get(f"/api/v1/projects/{project_id}/rendered-assets", params={"task_id": created["id"]})
    assert listed.json()["items"] == []  # no row left pointing at a deleted image
    for asset_id in asset_ids:
        assert (await http.get(f"/api/v1/rendered-assets/{asset_id}")).status_code == 404
        assert (await http.get(f"/api/v1/public/assets/{asset_id}")).status_code == 404


async def test_a_review_of_a_task_not_awaiting_one_is_409_at_once(http: httpx.AsyncClient, token: str) -> None:
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"too early {token}", n=2, review=True)
    started = time.monotonic()
    early = await http.post(
        f"/api/v1/tasks/{created['id']}/review", json={"winner": "00000000-0000-0000-0000-000000000001"}
    )
    assert early.status_code == 409, early.text
    assert time.monotonic() - started < 15  # not held until the review opens
