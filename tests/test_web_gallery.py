"""Web studio gallery and task detail: thumbnails only in the grid, the lightbox keys (left/right,
`a` approve, `x` archive, Esc), public link, delete, filters, more tiles on scroll, remix, use as
reference with the lineage, and picking a review's winner with the compare slider. Real Chromium,
real stack."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, Request, expect
from sqlalchemy import update

from db.models import RenderedAsset
from db.session import SessionFactory
from tests.helpers import ApiServer, wait_for_task
from tests.web_browser import Studio, browser, screenshot, sign_in, studio

__all__ = ["browser", "studio"]


async def rendered_task(studio: Studio, project_id: str, **body: Any) -> dict[str, Any]:
    response = await studio.http.post(f"/api/v1/projects/{project_id}/tasks", json={"name": "t", **body})
    assert response.status_code == 202, response.text
    done = await wait_for_task(studio.http, response.json()["id"])
    assert done["status"] == "succeeded", done
    return done


async def asset(studio: Studio, asset_id: str) -> httpx.Response:
    return await studio.http.get(f"/api/v1/rendered-assets/{asset_id}")


async def open_gallery(page: Page, project_id: str, query: str = "") -> list[str]:
    """Open the gallery; the URLs the browser fetched from the object store meanwhile."""
    fetched: list[str] = []

    def seen(request: Request) -> None:
        if request.resource_type == "image":
            fetched.append(request.url)

    page.on("request", seen)
    await page.goto(f"/projects/{project_id}/gallery{query}")
    await page.wait_for_load_state("networkidle")
    page.remove_listener("request", seen)
    return fetched


async def test_lightbox_keys_approve_archive_public_link_and_delete(studio: Studio, token: str) -> None:
    project_id = await studio.project()
    task = await rendered_task(studio, project_id, prompt=f"three pears on a table {token}", n=3)
    page = studio.page
    page.on("dialog", lambda dialog: dialog.accept())
    fetched = await open_gallery(page, project_id)
    tiles = page.locator(".tile")
    await expect(tiles).to_have_count(3)
    await expect(tiles.locator("img")).to_have_count(3)
    keys = [(await asset(studio, a)).json() for a in task["asset_ids"]]
    # The grid loads thumbnails (WebP beside the original), never an original.
    assert fetched and all("thumb" in url for url in fetched), fetched
    assert not any(k["file_key"] in url for k in keys for url in fetched)
    await screenshot(page, "gallery")

    ids = [await t.get_attribute("data-id") for t in await tiles.all()]
    await tiles.nth(0).click()
    lightbox = page.locator("#lightbox")
    await expect(lightbox).to_be_visible()
    await expect(page.locator("#lb-img")).to_have_attribute("src", f"/assets/{ids[0]}/original")
    await expect(page.locator("#lb-label")).to_have_text(f"three pears on a table {token}")
    await expect(page.locator("#lb-lineage")).to_contain_text("nothing (first generation)")
    await page.keyboard.press("ArrowRight")
    await expect(page.locator("#lb-img")).to_have_attribute("src", f"/assets/{ids[1]}/original")
    await page.keyboard.press("a")
    await expect(page.get_by_test_id("lb-state")).to_have_text("approved")
    await expect(tiles.nth(1).locator(".badge.state")).to_have_text("approved")
    assert (await asset(studio, str(ids[1]))).json()["state"] == "approved"
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("x")
    await expect(page.get_by_test_id("lb-state")).to_have_text("archived")
    assert (await asset(studio, str(ids[2]))).json()["state"] == "archived"
    await page.keyboard.press("ArrowLeft")
    await expect(page.locator("#lb-img")).to_have_attribute("src", f"/assets/{ids[1]}/original")

    await page.get_by_role("button", name="Make public").click()
    public_url = page.locator("#lb-public-url")
    await expect(public_url).to_be_visible()
    await expect(page.get_by_role("button", name="Make private")).to_be_visible()
    async with httpx.AsyncClient() as anonymous:
        image = await anonymous.get(await public_url.input_value(), follow_redirects=True)
    assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
    shown = (await asset(studio, str(ids[1]))).json()
    async with httpx.AsyncClient() as plain:
        stored = await plain.get(shown["url"])
    async with page.expect_download() as downloading:  # saved as a file, not opened in a tab
        await page.locator("#lb-download").click()
    download = await downloading.value
    assert download.suggested_filename == f"t-v{shown['variation_index']}.png"  # <task name>-v<n>.<ext>
    assert await asyncio.to_thread(Path(await download.path()).read_bytes) == stored.content
    assert len(page.context.pages) == 1
    await screenshot(page, "lightbox", full_page=False)

    # After Copy selected the read-only link, the lightbox keys still work (Escape too), and
    # browser shortcuts with a modifier are left to the browser.
    await page.get_by_role("button", name="Copy").click()
    await expect(public_url).to_be_focused()
    await page.keyboard.press("ArrowRight")
    await expect(page.locator("#lb-img")).to_have_attribute("src", f"/assets/{ids[2]}/original")
    await page.keyboard.press("ArrowLeft")
    await expect(page.locator("#lb-img")).to_have_attribute("src", f"/assets/{ids[1]}/original")
    await page.locator("#lb-close").focus()
    await page.keyboard.press("ArrowLeft")  # to the draft one
    await expect(page.get_by_test_id("lb-state")).to_have_text("draft")
    for chord in ("Control+a", "Meta+a", "Control+x", "Alt+x"):
        await page.keyboard.press(chord)
    await page.wait_for_timeout(500)  # a PATCH the keys had sent would have landed by now
    await expect(page.get_by_test_id("lb-state")).to_have_text("draft")
    assert (await asset(studio, str(ids[0]))).json()["state"] == "draft"
    await page.keyboard.press("ArrowRight")
    await page.get_by_role("button", name="Copy").click()
    await expect(public_url).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(lightbox).to_be_hidden()
    link = await public_url.input_value()

    await open_gallery(page, project_id, "?state=approved")
    await expect(tiles).to_have_count(1)
    await open_gallery(page, project_id, "?visibility=public")
    await expect(tiles).to_have_count(1)
    await tiles.first.click()
    await page.get_by_role("button", name="Make private").click()
    await expect(page.get_by_role("button", name="Make public")).to_be_visible()
    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.get(link)).status_code == 404  # at once, not after a cache's lifetime
    await page.keyboard.press("Escape")
    await open_gallery(page, project_id, "?state=draft")
    await expect(tiles).to_have_count(1)
    await tiles.first.click()
    await page.get_by_role("button", name="Delete").click()  # confirmed in the dialog
    await expect(tiles).to_have_count(0)
    assert (await asset(studio, str(ids[0]))).status_code == 404


async def test_more_tiles_load_when_the_grid_end_scrolls_into_view(studio: Studio, token: str) -> None:
    project_id = await studio.project()
    await asyncio.gather(*(rendered_task(studio, project_id, prompt=f"tile batch {i} {token}", n=7) for i in range(4)))
    page = studio.page
    await open_gallery(page, project_id)
    tiles = page.locator(".tile")
    await expect(tiles).to_have_count(24)  # the first page
    await page.locator(".more").scroll_into_view_if_needed()
    await expect(tiles).to_have_count(28)
    await expect(page.locator(".more")).to_have_count(0)
    ids = [await t.get_attribute("data-id") for t in await tiles.all()]
    assert len(set(ids)) == 28


async def test_remix_and_use_as_reference_show_in_the_lineage(studio: Studio, token: str) -> None:
    project_id = await studio.project()
    first = await rendered_task(studio, project_id, prompt=f"a paper boat {token}", aspect_ratio="16:9", n=1)
    [parent_id] = first["asset_ids"]
    page = studio.page
    await open_gallery(page, project_id)
    await page.locator(f"#tile-{parent_id}").click()
    await page.get_by_role("link", name="Remix").click()
    await page.wait_for_url(f"**/projects/{project_id}/create?remix={parent_id}", wait_until="domcontentloaded")
    await expect(page.get_by_role("heading", name="Remix")).to_be_visible()
    await expect(page.get_by_label("Prompt")).to_have_value(f"a paper boat {token}")
    await expect(page.get_by_label("Aspect ratio")).to_have_value("16:9")
    await expect(page.get_by_label("Variations (n)")).to_have_value("1")

    await open_gallery(page, project_id)
    await page.locator(f"#tile-{parent_id}").click()
    await page.get_by_role("link", name="Use as reference").click()
    await page.wait_for_url(f"**/projects/{project_id}/create?ref={parent_id}", wait_until="domcontentloaded")
    await expect(page.locator(f'input[name="reference_asset_ids"][value="{parent_id}"]')).to_be_checked()
    await page.get_by_label("Prompt").fill(f"the same boat at night {token}")
    await screenshot(page, "create")
    await page.get_by_role("button", name="Render").click()
    await page.wait_for_url(f"**/projects/{project_id}/tasks", wait_until="domcontentloaded")
    newest = (await studio.http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"][0]
    assert newest["parameters"]["reference_asset_ids"] == [parent_id]
    done = await wait_for_task(studio.http, newest["id"])
    [child_id] = done["asset_ids"]

    await open_gallery(page, project_id)
    await page.locator(f"#tile-{child_id}").click()
    made_from = page.locator("#lb-lineage .lineage-row").first
    await expect(made_from.locator(f'[data-lineage="{parent_id}"]')).to_be_visible()
    await made_from.locator(f'[data-lineage="{parent_id}"]').click()  # browse to the parent
    await expect(page.locator("#lb-img")).to_have_attribute("src", f"/assets/{parent_id}/original")
    used_in = page.locator("#lb-lineage .lineage-row").nth(1)
    await expect(used_in.locator(f'[data-lineage="{child_id}"]')).to_be_visible()


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_pick_a_winner_on_the_task_page(studio: Studio, token: str) -> None:
    project_id = await studio.project()
    response = await studio.http.post(
        f"/api/v1/projects/{project_id}/tasks",
        json={"name": "pick", "prompt": f"a teapot, three takes {token}", "n": 3, "review": True},
    )
    task_id = response.json()["id"]
    page = studio.page
    await page.goto(f"/tasks/{task_id}")
    # The page follows the task's event stream and reloads once the review opens.
    pick = page.get_by_role("button", name="Pick as winner")
    await expect(pick).to_have_count(3, timeout=60_000)
    await expect(page.locator(".variation-card img")).to_have_count(3)
    await expect(page.locator(".final-prompt")).to_contain_text(f"a teapot, three takes {token}")
    await expect(page.get_by_test_id("model-version")).to_have_text("gemini-3-pro-image-preview")
    await expect(page.locator(".facts")).to_contain_text("total_token_count")

    # The compare loads originals (tens of MB at 4K): the visible pair only, each once.
    originals: list[str] = []
    page.on("request", lambda request: originals.append(request.url) if "/original" in request.url else None)
    await page.reload()
    await expect(page.locator("#cmp-side-a")).to_be_visible()
    await _until(lambda: len(originals) >= 2)
    await page.wait_for_timeout(300)
    assert len(originals) == 2, originals
    await page.get_by_role("radio", name="slider").check()
    await expect(page.locator("#cmp-slider")).to_be_visible()
    await expect(page.locator("#cmp-slide-a")).to_have_js_property("complete", True)
    await page.wait_for_function("document.getElementById('cmp-slide-b').naturalWidth > 0")
    await page.get_by_role("radio", name="side by side").check()
    await page.get_by_role("radio", name="slider").check()
    await page.wait_for_timeout(300)
    assert len(originals) == 2, originals  # the same pair: the page's image cache, no new download
    await page.locator("#cmp-range").fill("30")
    assert "70%" in (await page.locator("#cmp-slide-a").get_attribute("style") or "")
    await screenshot(page, "task-detail")

    winner = await page.locator(".variation-card").nth(1).get_attribute("data-asset")
    await pick.nth(1).click()
    await expect(page.get_by_role("status")).to_contain_text("Winner picked", timeout=30_000)
    states = {
        await card.get_attribute("data-asset"): await card.get_by_test_id("state").inner_text()
        for card in await page.locator(".variation-card").all()
    }
    assert states.pop(winner) == "approved"
    assert sorted(states.values()) == ["archived", "archived"]
    done = await wait_for_task(studio.http, task_id)
    assert done["review"]["winner_asset_id"] == winner


async def test_an_asset_without_a_thumbnail_is_a_neutral_box_not_its_original(
    studio: Studio, sessions: SessionFactory, token: str
) -> None:
    project_id = await studio.project()
    task = await rendered_task(studio, project_id, prompt=f"an old render {token}", n=2)
    bare = task["asset_ids"][0]
    async with sessions() as session:  # as for an image published before thumbnails existed
        await session.execute(
            update(RenderedAsset).where(RenderedAsset.id == uuid.UUID(bare)).values(thumbnail_key=None)
        )
        await session.commit()
    page = studio.page
    fetched = await open_gallery(page, project_id)
    tile = page.locator(f"#tile-{bare}")
    label = f"an old render {token} (no thumbnail yet)"
    await expect(tile.locator(".placeholder")).to_have_attribute("aria-label", label)
    await expect(tile.locator("img")).to_have_count(0)
    assert len(fetched) == 1 and "thumb" in fetched[0]  # the other tile's thumbnail, nothing else


async def test_the_filter_form_shows_only_matching_tiles_and_any_shows_all(
    studio: Studio, browser: Browser, api_server: ApiServer, token: str
) -> None:
    """The filter bar submits every field, the unset ones empty (`state=approved&asset_type=&
    visibility=&task_id=`): empty means any, with JavaScript (a select submits on change) and
    without it (the Filter button); a bad value gives the page with a message."""
    project_id = await studio.project()
    task = await rendered_task(studio, project_id, prompt=f"filter these {token}", n=3)
    approved, archived, draft = task["asset_ids"]
    for asset_id, state in ((approved, "approved"), (archived, "archived")):
        changed = await studio.http.patch(f"/api/v1/rendered-assets/{asset_id}", json={"state": state})
        assert changed.status_code == 200, changed.text
    page = studio.page
    await open_gallery(page, project_id)
    tiles = page.locator(".tile")
    await expect(tiles).to_have_count(3)

    async def tile_ids() -> set[str | None]:
        return {await t.get_attribute("data-id") for t in await tiles.all()}

    for state, expected in (("approved", approved), ("archived", archived), ("draft", draft)):
        async with page.expect_navigation():
            await page.get_by_label("State").select_option(state)  # submits the form
        assert f"state={state}&asset_type=&visibility=&task_id=" in page.url
        await expect(tiles).to_have_count(1)
        assert await tile_ids() == {expected}
        await expect(page.get_by_label("State")).to_have_value(state)
    async with page.expect_navigation():
        await page.get_by_label("State").select_option("any")
    assert "state=&" in page.url
    await expect(tiles).to_have_count(3)
    assert await tile_ids() == {approved, archived, draft}

    # JavaScript off: the same form, sent with the Filter button.
    key = studio.http.headers["Authorization"].removeprefix("Bearer ")
    context = await browser.new_context(base_url=api_server.base_url, java_script_enabled=False)
    try:
        plain = await sign_in(context, key)
        await plain.goto(f"/projects/{project_id}/gallery")
        plain_tiles = plain.locator(".tile")
        await expect(plain_tiles).to_have_count(3)
        await plain.get_by_label("State").select_option("archived")
        await plain.get_by_label("Task").fill(task["id"])
        await plain.get_by_role("button", name="Filter", exact=True).click()
        await plain.wait_for_url(
            f"**/gallery?state=archived&asset_type=&visibility=&task_id={task['id']}", wait_until="domcontentloaded"
        )
        await expect(plain_tiles).to_have_count(1)
        assert await plain_tiles.first.get_attribute("data-id") == archived
        await expect(plain.locator("#filter-error")).to_have_count(0)

        await plain.get_by_label("State").select_option("any")
        await plain.get_by_label("Task").fill("not-a-task")
        async with plain.expect_response(lambda r: "/gallery?" in r.url) as answer:
            await plain.get_by_role("button", name="Filter", exact=True).click()
        assert (await answer.value).status == 422
        await expect(plain.locator("#filter-error")).to_contain_text("'not-a-task' is not a task id")
        await expect(plain_tiles).to_have_count(0)
        await expect(plain.get_by_label("Task")).to_have_value("not-a-task")
    finally:
        await context.close()
