"""Lineage: tasks that edit earlier assets send them to Gemini as inline images, and each new
asset records its parents; the lightbox shows the nearest of a popular reference's descendants
and how many more there are (real Chromium)."""

from __future__ import annotations

import asyncio

import httpx
from playwright.async_api import expect

from gemini_emulator import EmulatorServer
from tests.helpers import create_project, create_task, wait_for_task
from tests.test_web_gallery import open_gallery, rendered_task
from tests.web_browser import Studio, browser, studio

__all__ = ["browser", "studio"]


async def _render(http: httpx.AsyncClient, project_id: str, prompt: str, **body: object) -> dict:
    task = await wait_for_task(http, (await create_task(http, project_id, prompt=prompt, **body))["id"])
    assert task["status"] == "succeeded", task
    return task


async def test_reference_images_are_sent_and_lineage_is_recorded(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    project_id = await create_project(http)
    [a] = (await _render(http, project_id, f"original {token}"))["asset_ids"]
    [b] = (await _render(http, project_id, f"edit {token}", reference_asset_ids=[a]))["asset_ids"]
    [c] = (await _render(http, project_id, f"edit again {token}", reference_asset_ids=[b]))["asset_ids"]
    [d] = (await _render(http, project_id, f"combine {token}", reference_asset_ids=[a, c]))["asset_ids"]

    sent = {call.prompt.split(" ")[0]: call.reference_images for call in emulator.calls(token)}
    assert sent == {"original": 0, "edit": 1, "combine": 2}  # "edit again" shares the "edit" key
    lineage_c = (await http.get(f"/api/v1/rendered-assets/{c}/lineage")).json()
    lineage_a = (await http.get(f"/api/v1/rendered-assets/{a}/lineage")).json()
    assert [(x["id"], x["depth"]) for x in lineage_c["ancestors"]] == [(b, 1), (a, 2)]
    assert [(x["id"], x["depth"]) for x in lineage_c["descendants"]] == [(d, 1)]
    assert {(x["id"], x["depth"]) for x in lineage_a["descendants"]} == {(b, 1), (d, 1), (c, 2)}
    asset_d = (await http.get(f"/api/v1/rendered-assets/{d}")).json()
    assert asset_d["metadata"]["lineage"]["parent_asset_ids"] == [a, c]


async def test_references_must_exist_in_the_project_and_respect_the_model_limit(
    http: httpx.AsyncClient, other_http: httpx.AsyncClient, token: str
) -> None:
    mine = await create_project(http)
    [asset] = (await _render(http, mine, f"mine {token}"))["asset_ids"]
    theirs = await create_project(other_http)

    foreign = await other_http.post(
        f"/api/v1/projects/{theirs}/tasks", json={"name": "t", "prompt": "steal", "reference_asset_ids": [asset]}
    )
    too_many = await http.post(
        f"/api/v1/projects/{mine}/tasks",
        json={"name": "t", "prompt": "x", "model": "gemini-2.5-flash-image", "reference_asset_ids": [asset] * 1 + [
            "00000000-0000-0000-0000-00000000000" + str(i) for i in range(1, 4)
        ]},
    )  # fmt: skip

    assert foreign.status_code == 422
    assert asset in foreign.json()["error"]["message"]
    assert too_many.status_code == 422
    assert "at most 3" in too_many.json()["error"]["message"]


async def test_a_popular_reference_shows_its_nearest_descendants_and_how_many_more(studio: Studio, token: str) -> None:
    project_id = await studio.project()
    first = await rendered_task(studio, project_id, prompt=f"a compass rose {token}", n=1)
    [parent_id] = first["asset_ids"]
    children = await asyncio.gather(
        *(
            rendered_task(studio, project_id, prompt=f"compass {i} {token}", n=7, reference_asset_ids=[parent_id])
            for i in range(4)
        )
    )
    child_ids = {a for task in children for a in task["asset_ids"]}
    assert len(child_ids) == 28  # more than the lightbox shows (24)

    page = studio.page
    await open_gallery(page, project_id, f"?task_id={first['id']}")
    await page.locator(f"#tile-{parent_id}").click()
    used_in = page.locator("#lb-lineage .lineage-row").nth(1)
    await expect(used_in.locator("[data-lineage]")).to_have_count(24)
    await expect(page.get_by_test_id("lineage-more-descendants")).to_have_text("and 4 more")
    shown = {await a.get_attribute("data-lineage") for a in await used_in.locator("[data-lineage]").all()}
    assert shown < child_ids
    await expect(page.get_by_test_id("lineage-more-ancestors")).to_have_count(0)

    # A child: its one parent, nothing more.
    await page.keyboard.press("Escape")
    await open_gallery(page, project_id, f"?task_id={children[0]['id']}")
    await page.locator(".tile").first.click()
    made_from = page.locator("#lb-lineage .lineage-row").first
    await expect(made_from.locator("[data-lineage]")).to_have_count(1)
    await expect(made_from.locator(f'[data-lineage="{parent_id}"]')).to_be_visible()
    await expect(page.locator("#lb-lineage .lineage-more")).to_have_count(0)
