"""Web studio sign-in, sign-out, one-time links, CSRF and ownership, in a real Chromium against
the real stack (the site served by uvicorn, a real worker, the emulator)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select, update
from typer.testing import CliRunner

from api.app import create_app
from clients.settings import Settings, get_settings
from db.models import WebSession, WebSignInLink
from db.session import SessionFactory
from db.users import create_user
from db.web_sessions import create_sign_in_link, end_session, hash_token, start_session
from studio.cli import app as cli
from studio.sign_in_link import new_sign_in_link, sign_in_url
from tests.helpers import ApiServer, wait_for_task
from tests.web_browser import SCREENSHOTS, browser, new_context, new_user, screenshot, screenshot_dir, sign_in
from web.app import create_site
from web.session import COOKIE
from web.task_feed import SESSION_CHECK_S

__all__ = ["browser"]


async def test_sign_in_with_api_key_then_sign_out(
    browser: Browser, api_server: ApiServer, sessions: SessionFactory
) -> None:
    user_id, key = await new_user(sessions, "Ada")
    context = await new_context(browser, api_server.base_url)
    page = await context.new_page()

    await page.goto("/projects")  # not signed in: sent to the sign-in page
    await page.wait_for_url("**/sign-in?next=/projects", wait_until="domcontentloaded")
    await screenshot(page, "sign-in")
    await page.get_by_label("API key").fill("rs_not-a-key")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid")

    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/projects", wait_until="domcontentloaded")
    await expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    await expect(page.locator(".who")).to_have_text("Ada")

    cookie = next(c for c in await context.cookies() if c["name"] == "studio_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert key not in cookie["value"]
    async with sessions() as session:
        row = await session.get(WebSession, hash_token(cookie["value"]))
        assert row is not None and row.user_id == user_id and row.expires_at > datetime.now(UTC)

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/sign-in", wait_until="domcontentloaded")
    async with sessions() as session:
        assert await session.get(WebSession, hash_token(cookie["value"])) is None
    # The old cookie, replayed, signs nobody in.
    async with httpx.AsyncClient(base_url=api_server.base_url, cookies={"studio_session": cookie["value"]}) as old:
        assert (await old.get("/api/v1/projects")).status_code == 401
        assert (await old.get("/projects")).status_code == 303
    await context.close()


async def test_one_time_sign_in_link_works_once(
    browser: Browser, api_server: ApiServer, sessions: SessionFactory
) -> None:
    user_id, _ = await new_user(sessions)
    async with sessions() as session:
        token = await create_sign_in_link(session, user_id, ttl_s=600)
        await session.commit()
        stored = (await session.execute(select(WebSignInLink.token_hash))).scalars().all()
    assert hash_token(token) in stored and token not in stored

    context = await new_context(browser, api_server.base_url)
    page = await context.new_page()
    await page.goto(f"/sign-in/{token}")
    await page.wait_for_url("**/projects", wait_until="domcontentloaded")
    await expect(page.get_by_role("heading", name="Projects")).to_be_visible()

    other = await new_context(browser, api_server.base_url)
    second = await other.new_page()
    response = await second.goto(f"/sign-in/{token}")
    assert response is not None and response.status == 400
    await expect(second.get_by_role("alert")).to_contain_text("already used or has expired")
    await context.close()
    await other.close()


async def test_state_changing_requests_without_the_csrf_token_are_refused(
    browser: Browser, api_server: ApiServer, sessions: SessionFactory
) -> None:
    _, key = await new_user(sessions)
    context = await new_context(browser, api_server.base_url)
    page = await sign_in(context, key)
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token

    # The session cookie alone does not make a write: 403, and nothing is created.
    refused = await page.request.post("/api/v1/projects", data={"name": "forged"})
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "csrf_failed"
    wrong = await page.request.post("/api/v1/projects", data={"name": "forged"}, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status == 403
    listed = await page.request.get("/api/v1/projects")  # reads need no token
    assert listed.status == 200 and (await listed.json())["items"] == []
    signed_out = await page.request.post("/sign-out", form={"csrf_token": "wrong"})
    assert signed_out.status == 403

    # With the page's token the same request goes through.
    accepted = await page.request.post("/api/v1/projects", data={"name": "real"}, headers={"X-CSRF-Token": token})
    assert accepted.status == 201
    # A sign-in form posted from elsewhere (no form token from our page) is refused too.
    cross = await page.request.post("/sign-in", form={"api_key": key, "form_token": "guess"})
    assert cross.status == 403
    await context.close()


async def test_another_users_project_task_and_image_are_not_found(
    browser: Browser, api_server: ApiServer, sessions: SessionFactory, http: httpx.AsyncClient
) -> None:
    project = (await http.post("/api/v1/projects", json={"name": "private"})).json()["id"]
    task = (
        await http.post(f"/api/v1/projects/{project}/tasks", json={"name": "t", "prompt": "a quiet lake", "n": 1})
    ).json()["id"]
    [image] = (await wait_for_task(http, task))["asset_ids"]
    _, key = await new_user(sessions)
    context = await new_context(browser, api_server.base_url)
    page = await sign_in(context, key)
    paths = [
        f"/projects/{project}",
        f"/projects/{project}/gallery",
        f"/projects/{project}/tasks",
        f"/projects/{project}/exports",
        f"/projects/{project}/create",
        f"/tasks/{task}",
        f"/assets/{image}/original",
        f"/assets/{image}/download",
        f"/assets/{image}/lineage",
    ]
    for path in paths:
        response = await page.goto(path)
        assert response is not None and response.status == 404, path
        await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    await screenshot(page, "not-found")
    await context.close()


async def test_studio_dev_link_signs_the_keys_owner_in(
    browser: Browser, api_server: ApiServer, sessions: SessionFactory, settings: Settings
) -> None:
    """`studio dev` / `studio sign-in-link` mint the link from the key; the URL does not carry it."""
    _, key = await new_user(sessions, "Devi")
    url = sign_in_url(settings, await new_sign_in_link(settings, api_key=key), base_url=api_server.base_url)
    assert key not in url
    context = await new_context(browser, api_server.base_url)
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_url("**/projects", wait_until="domcontentloaded")
    await expect(page.locator(".who")).to_have_text("Devi")
    await context.close()


async def test_an_expired_session_is_sent_back_to_sign_in(
    browser: Browser, api_server: ApiServer, sessions: SessionFactory
) -> None:
    _, key = await new_user(sessions)
    context = await new_context(browser, api_server.base_url)
    page = await sign_in(context, key)
    cookie = next(c for c in await context.cookies() if c["name"] == "studio_session")
    async with sessions() as session:
        await session.execute(
            update(WebSession)
            .where(WebSession.token_hash == hash_token(cookie["value"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    await page.goto("/projects")
    await page.wait_for_url("**/sign-in?next=/projects", wait_until="domcontentloaded")
    assert (await page.request.get("/api/v1/projects")).status == 401
    await context.close()


async def test_the_cookie_is_secure_behind_an_https_proxy(api_server: ApiServer, sessions: SessionFactory) -> None:
    """A trusted proxy's `X-Forwarded-Proto: https` (uvicorn's proxy headers, from loopback) makes
    the session cookie Secure; plain http does not."""
    _, key = await new_user(sessions)
    for proto, secure in (("https", True), ("http", False)):
        headers = {"X-Forwarded-Proto": proto}
        async with httpx.AsyncClient(base_url=api_server.base_url, headers=headers) as client:
            form = await client.get("/sign-in")
            form_token = form.text.split('name="form_token" value="', 1)[1].split('"', 1)[0]
            # Sent by hand: httpx keeps a Secure cookie to itself over plain http, as a browser would.
            cookie = {"Cookie": f"studio_sign_in={form.cookies['studio_sign_in']}"}
            signed = await client.post("/sign-in", data={"api_key": key, "form_token": form_token}, headers=cookie)
        assert signed.status_code == 303
        set_cookie = next(v for v in signed.headers.get_list("set-cookie") if v.startswith("studio_session="))
        assert ("; secure" in set_cookie.lower()) is secure, set_cookie
        assert "httponly" in set_cookie.lower() and "samesite=lax" in set_cookie.lower()


def test_pages_stay_out_of_the_api_schema() -> None:
    settings = Settings(_env_file=None)
    site_paths = set(create_site(settings).openapi()["paths"])
    assert site_paths == set(create_app(settings).openapi()["paths"])
    assert not any(p.startswith(("/projects", "/tasks", "/sign-in", "/assets")) for p in site_paths)


async def test_studio_sign_in_link_command_prints_a_working_link(
    browser: Browser,
    api_server: ApiServer,
    sessions: SessionFactory,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`studio sign-in-link` for the `studio dev` user (the key in STATE_DIR/dev-api-key)."""
    _, key = await new_user(sessions, "Cli")
    (tmp_path / "dev-api-key").write_text(key + "\n")
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = await asyncio.to_thread(
            CliRunner().invoke, cli, ["sign-in-link", "--base-url", api_server.base_url], catch_exceptions=False
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert url.startswith(f"{api_server.base_url}/sign-in/") and key not in url
    context = await new_context(browser, api_server.base_url)
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_url("**/projects", wait_until="domcontentloaded")
    await expect(page.locator(".who")).to_have_text("Cli")
    await context.close()


async def test_screenshots_leave_the_tracked_ones_alone_unless_asked(
    browser: Browser, api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain run still takes its screenshots, outside the git tree; STUDIO_UPDATE_SCREENSHOTS=1
    writes docs/screenshots/."""
    monkeypatch.delenv("STUDIO_UPDATE_SCREENSHOTS", raising=False)
    tracked = SCREENSHOTS / "sign-in.png"
    before = tracked.read_bytes()
    context = await new_context(browser, api_server.base_url)
    page = await context.new_page()
    await page.goto("/sign-in")
    await page.get_by_label("API key").fill("rs_changed-so-the-picture-differs")
    taken = await screenshot(page, "sign-in")
    await context.close()
    assert taken.is_file() and taken.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert SCREENSHOTS not in taken.parents
    assert tracked.read_bytes() == before
    monkeypatch.setenv("STUDIO_UPDATE_SCREENSHOTS", "1")
    assert screenshot_dir() == SCREENSHOTS


async def test_a_task_list_stream_ends_once_its_session_is_signed_out(
    api_server: ApiServer, sessions: SessionFactory
) -> None:
    """A page left open after sign-out (here: its session row deleted, as /sign-out does) stops
    receiving the project's task events within SESSION_CHECK_S."""
    async with sessions() as session:
        user, key = await create_user(session, "streamer")
        token, _ = await start_session(session, user.id, ttl_s=600)
        await session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api_server.base_url, timeout=30) as http:
        project = (await http.post("/api/v1/projects", json={"name": "stream"}, headers=headers)).json()
        http.cookies.set(COOKIE, token)
        async with http.stream("GET", f"/projects/{project['id']}/tasks/stream") as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("retry:")
            async with sessions() as session:
                await end_session(session, token)
                await session.commit()

            async def drain() -> None:
                async for _ in lines:
                    pass

            await asyncio.wait_for(drain(), timeout=SESSION_CHECK_S + 10)  # it ends; it used to run on
