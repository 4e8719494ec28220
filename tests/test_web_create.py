"""Web studio: projects (create, rename, brand kit, quota with today's usage), the create form
(the API's own messages next to the field, nothing sent to the model), a task watched to the end
on the live list, uploads (a good file by drag and drop, a bad one refused) and a 375 px screen.
Real Chromium, real stack."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
from PIL import Image
from playwright.async_api import Browser, FilePayload, expect

from db.session import SessionFactory
from gemini_emulator import EmulatorServer
from tests.helpers import ApiServer, wait_for_task
from tests.web_browser import PHONE, Studio, browser, new_context, new_user, screenshot, sign_in, studio

__all__ = ["browser", "studio"]


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_projects_create_rename_brand_kit_and_quota(studio: Studio, token: str) -> None:
    page = studio.page
    await page.get_by_label("New project").fill("Spring launch")
    await page.get_by_role("button", name="Create project").click()
    await page.wait_for_url("**/projects/*", wait_until="domcontentloaded")
    project_id = page.url.rsplit("/", 1)[1]
    await expect(page.get_by_role("heading", name="Spring launch", exact=True)).to_be_visible()

    await page.get_by_label("Name", exact=True).fill("Summer launch")
    await page.get_by_label("Daily image quota").fill("5")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("heading", name="Summer launch", exact=True)).to_be_visible()
    await expect(page.locator("#quota")).to_have_text("5")
    await expect(page.locator("#used-today")).to_have_text("0")

    # The API's refusal shows beside the field it is about.
    await page.get_by_label("Colours").fill("#ff8800, nope")
    await page.get_by_role("button", name="Save brand kit").click()
    await expect(page.locator('[data-error-for="brand_kit.colors"]')).to_contain_text("'nope' is not #rrggbb")
    await page.get_by_label("Colours").fill("#ff8800, #223344")
    await page.get_by_label("Fonts").fill("Inter")
    await page.get_by_label("Tone").fill("playful")
    await page.get_by_label("Style keywords").fill("flat, pastel")
    await page.get_by_label("Negative keywords").fill("text, watermark")
    await page.get_by_role("button", name="Save brand kit").click()
    await expect(page.locator(".swatch")).to_have_count(2)
    kit = (await studio.http.get(f"/api/v1/projects/{project_id}")).json()["brand_kit"]
    assert kit["colors"] == ["#ff8800", "#223344"] and kit["tone"] == "playful"
    assert kit["negative_keywords"] == ["text", "watermark"]

    task = await studio.http.post(
        f"/api/v1/projects/{project_id}/tasks", json={"name": "q", "prompt": f"a kite {token}", "n": 2}
    )
    assert task.status_code == 202
    await page.reload()
    await expect(page.locator("#used-today")).to_have_text("2")
    await screenshot(page, "project")
    await page.goto("/projects")
    await expect(page.get_by_role("link", name="Summer launch")).to_be_visible()
    await screenshot(page, "projects")


async def test_invalid_input_shows_the_apis_message_and_a_task_finishes_live(
    studio: Studio, emulator: EmulatorServer, token: str
) -> None:
    project_id = await studio.project()
    page = studio.page
    await page.goto(f"/projects/{project_id}/create")
    await page.get_by_label("Asset type").select_option("thumbnail")
    await expect(page.locator("#output-size")).to_contain_text("1280 \u00d7 720 px")
    await expect(page.get_by_label("Aspect ratio")).to_be_disabled()
    await page.get_by_label("Asset type").select_option("image")
    await page.get_by_label("Aspect ratio").select_option("16:9")
    await page.get_by_label("Image size").select_option("2K")
    await expect(page.locator("#output-size")).to_contain_text("2752 \u00d7 1536 px")
    await page.get_by_label("Image size").select_option("")

    await page.get_by_label("Prompt").fill(f"a lighthouse at dusk {token}")
    await page.get_by_label("Variations (n)").fill("9")
    await page.get_by_role("button", name="Render").click()
    await expect(page.locator('[data-error-for="n"]')).to_contain_text("less than or equal to 8")
    await expect(page.get_by_label("Variations (n)")).to_have_attribute("aria-invalid", "true")

    await page.get_by_label("Variations (n)").fill("1")
    await page.get_by_label("Review: I pick the winner").check()
    await page.get_by_role("button", name="Render").click()
    await expect(page.locator('[data-error-for="review"]')).to_contain_text("review needs n >= 2")
    await screenshot(page, "create-error")
    assert emulator.calls(token) == []  # nothing invalid reached the model
    assert (await studio.http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"] == []

    # A rate limit first (retry in 5 s), then a slow success: the list shows the retry with its
    # wait, as the API does, then the result.
    emulator.script(token, [{"kind": "rate_limit", "retry_delay_s": 5}, {"kind": "hang", "seconds": 2}])
    await page.get_by_label("Review: I pick the winner").uncheck()
    await page.get_by_role("button", name="Render").click()
    await page.wait_for_url(f"**/projects/{project_id}/tasks", wait_until="domcontentloaded")
    await page.evaluate("window.__stayed = true")
    row = page.locator("li.task").first
    task_id = (await studio.http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"][0]["id"]

    async def row_shows_the_wait() -> None:
        wait = re.compile(r"retrying in \d+ s \(attempt \d+\): rate_limited")
        await expect(row.locator(".retry")).to_contain_text(wait, timeout=30_000)
        await screenshot(page, "tasks-retrying")

    _, retry = await asyncio.gather(row_shows_the_wait(), waiting_retry(studio.http, task_id))
    assert retry["code"] == "rate_limited" and 0 < retry["wait_s"] <= 5, retry
    assert datetime.fromisoformat(retry["next_attempt_at"]).utcoffset() == timedelta(0), retry
    await expect(row.get_by_test_id("status")).to_have_text("succeeded", timeout=60_000)
    await expect(row.locator(".variation")).to_contain_text("#0 succeeded")
    assert await page.evaluate("window.__stayed") is True  # updated in place, never reloaded
    href = await row.get_by_role("link", name="Workflow in Temporal UI").get_attribute("href")
    assert href is not None and "/workflows/task-" in href
    await screenshot(page, "tasks")


async def waiting_retry(http: httpx.AsyncClient, task_id: str, within_s: float = 30.0) -> dict[str, Any]:
    """The first variation retry of GET /tasks/{id} that waits for its next attempt (`wait_s`
    set), polled every 0.2 s; fails after `within_s` seconds without one."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        task = (await http.get(f"/api/v1/tasks/{task_id}")).json()
        for variation in task["variations"]:
            if variation["retry"] and variation["retry"]["wait_s"] is not None:
                return dict(variation["retry"])
        await asyncio.sleep(0.2)
    raise AssertionError(f"no retry waiting for its next attempt within {within_s} s: {task}")


async def test_cancel_from_the_live_list(studio: Studio, emulator: EmulatorServer, token: str) -> None:
    project_id = await studio.project()
    emulator.script(token, [{"kind": "hang", "seconds": 30}])
    await studio.http.post(
        f"/api/v1/projects/{project_id}/tasks", json={"name": "slow", "prompt": f"a slow river {token}"}
    )
    page = studio.page
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(f"/projects/{project_id}/tasks")
    row = page.locator("li.task").first
    await expect(row.locator(".variation")).to_contain_text("generating", timeout=30_000)
    await row.get_by_role("button", name="Cancel").click()
    await expect(row.get_by_test_id("status")).to_have_text("canceled", timeout=30_000)
    await row.get_by_role("button", name="Retry").click()  # a new task for the undelivered variation
    await expect(page.locator("li.task")).to_have_count(2, timeout=15_000)


async def test_upload_a_good_file_by_drag_and_drop_and_a_bad_one(
    studio: Studio, emulator: EmulatorServer, token: str
) -> None:
    project_id = await studio.project()
    page = studio.page
    await page.goto(f"/projects/{project_id}/create")
    good = base64.b64encode(png_bytes()).decode()
    await page.evaluate(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], "logo.png", {type: "image/png"}));
            document.getElementById("dropzone").dispatchEvent(
                new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
        }""",
        good,
    )
    status = page.locator("#upload-status")
    await expect(status).to_contain_text("logo.png: uploaded", timeout=20_000)
    fake: FilePayload = {"name": "fake.png", "mimeType": "image/png", "buffer": b"this is not a picture"}
    await page.locator("#upload-input").set_input_files(files=[fake])
    await expect(status.locator(".error")).to_contain_text("fake.png: ", timeout=20_000)
    await expect(status.locator(".error")).to_contain_text("invalid_upload")

    assets = (await studio.http.get(f"/api/v1/projects/{project_id}/rendered-assets")).json()["items"]
    assert [a["asset_type"] for a in assets] == ["upload"]
    upload_id = assets[0]["id"]
    ticked = page.locator('input[name="reference_asset_ids"]:checked')
    await expect(ticked).to_have_count(1)
    assert await ticked.get_attribute("value") == upload_id

    await page.get_by_label("Prompt").fill(f"the logo on a mug {token}")
    await page.get_by_role("button", name="Render").click()
    await page.wait_for_url(f"**/projects/{project_id}/tasks", wait_until="domcontentloaded")
    task = (await studio.http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"][0]
    assert task["parameters"]["reference_asset_ids"] == [upload_id]
    done = await wait_for_task(studio.http, task["id"])
    assert done["status"] == "succeeded", done
    [call] = emulator.calls(token)
    assert call.prompt.startswith("the logo on a mug")


async def test_a_375_px_screen_has_no_sideways_scrolling(
    browser: Browser, api_server: ApiServer, sessions: SessionFactory, token: str
) -> None:
    _, key = await new_user(sessions, "Linus")
    context = await new_context(browser, api_server.base_url, viewport=PHONE)
    page = await sign_in(context, key)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api_server.base_url, headers=headers, timeout=30) as http:
        project_id = (await http.post("/api/v1/projects", json={"name": "phone"})).json()["id"]
        task = (
            await http.post(
                f"/api/v1/projects/{project_id}/tasks", json={"name": "m", "prompt": f"a red tram {token}", "n": 3}
            )
        ).json()
        await wait_for_task(http, task["id"])
    pages = {
        "mobile-projects": "/projects",
        "mobile-create": f"/projects/{project_id}/create",
        "mobile-tasks": f"/projects/{project_id}/tasks",
        "mobile-gallery": f"/projects/{project_id}/gallery",
        "mobile-task": f"/tasks/{task['id']}",
    }
    for name, path in pages.items():
        await page.goto(path)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide"
        if name in ("mobile-gallery", "mobile-create"):
            await screenshot(page, name)
    await page.goto(f"/projects/{project_id}/gallery")
    await page.locator(".tile").first.click()
    await expect(page.locator("#lightbox")).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await screenshot(page, "mobile-lightbox", full_page=False)
    await context.close()


async def test_a_failed_task_shows_its_error_code_and_message_live(
    studio: Studio, emulator: EmulatorServer, token: str
) -> None:
    project_id = await studio.project()
    emulator.script(
        token, [{"kind": "rate_limit", "retry_delay_s": 2}, {"kind": "prompt_block", "reason": "PROHIBITED_CONTENT"}]
    )
    page = studio.page
    await page.goto(f"/projects/{project_id}/tasks")
    await studio.http.post(
        f"/api/v1/projects/{project_id}/tasks", json={"name": "blocked", "prompt": f"something forbidden {token}"}
    )
    row = page.locator("li.task").first  # added by the stream: the page was opened before the task
    await expect(row.get_by_test_id("status")).to_have_text("running", timeout=20_000)
    await expect(row.get_by_test_id("status")).to_have_text("failed", timeout=60_000)
    await expect(row.locator(".task-error code")).to_have_text("content_blocked")
    await expect(row.locator(".task-error")).to_contain_text("PROHIBITED_CONTENT")
    await expect(row.get_by_role("button", name="Retry")).to_be_visible()
