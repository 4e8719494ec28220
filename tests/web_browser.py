"""Browser-test helpers: Debian's Chromium driven by Playwright (never `playwright install`),
signing in through the page like a person, and screenshots (for docs/screenshots/ with
STUDIO_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from db.session import SessionFactory
from db.users import create_user
from tests.helpers import ApiServer

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the session."""
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield chromium
        await chromium.close()


async def new_user(sessions: SessionFactory, name: str | None = None) -> tuple[uuid.UUID, str]:
    """A fresh user; returns (id, API key)."""
    async with sessions() as session:
        user, key = await create_user(session, name or f"web-{uuid.uuid4().hex[:8]}")
        await session.commit()
    return user.id, key


OFF_MACHINE: dict[int, list[str]] = {}


def off_machine_requests(context: BrowserContext) -> list[str]:
    """URLs this context asked for beyond the loopback address (the studio must need none)."""
    return OFF_MACHINE.get(id(context), [])


async def new_context(browser: Browser, base_url: str, viewport: dict[str, int] = DESKTOP) -> BrowserContext:
    """A fresh browser profile (no cookies) on `base_url`. Every request leaving 127.0.0.1 is
    recorded (see off_machine_requests) and refused, as if there were no network."""
    context = await browser.new_context(base_url=base_url, viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(20_000)
    outside = OFF_MACHINE.setdefault(id(context), [])

    async def refuse(route: Route) -> None:
        outside.append(route.request.url)
        await route.abort()

    await context.route(lambda url: urlsplit(url).hostname not in ("127.0.0.1", "localhost"), refuse)
    return context


async def sign_in(context: BrowserContext, api_key: str) -> Page:
    """Sign in through the form like a person; returns the page, on the projects list."""
    page = await context.new_page()
    await page.goto("/sign-in")
    await page.get_by_label("API key").fill(api_key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/projects", wait_until="domcontentloaded")
    return page


def screenshot_dir() -> Path:
    """docs/screenshots/ (committed, shown in the README) when STUDIO_UPDATE_SCREENSHOTS=1;
    otherwise a directory of the running test under the system's temporary directory, so that a
    plain test run leaves the tracked PNGs alone."""
    if os.environ.get("STUDIO_UPDATE_SCREENSHOTS") == "1":
        return SCREENSHOTS
    test = os.environ.get("PYTEST_CURRENT_TEST", "outside-pytest").split(" ")[0]
    return Path(tempfile.gettempdir()) / "studio-screenshots" / re.sub(r"[^A-Za-z0-9_.-]+", "_", test)


async def screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    """Save the page as <screenshot_dir()>/<name>.png; returns the file's path."""
    directory = screenshot_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path


class Studio:
    """A signed-in browser page and an API client for the same user."""

    def __init__(self, page: Page, http: httpx.AsyncClient, context: BrowserContext) -> None:
        self.page, self.http, self.context = page, http, context

    async def project(self, name: str = "launch") -> str:
        response = await self.http.post("/api/v1/projects", json={"name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@pytest.fixture
async def studio(browser: Browser, api_server: ApiServer, sessions: SessionFactory) -> AsyncIterator[Studio]:
    """A fresh user, signed in through the page, with an API client of its own key."""
    _, key = await new_user(sessions, "Grace")
    context = await new_context(browser, api_server.base_url)
    page = await sign_in(context, key)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api_server.base_url, headers=headers, timeout=30) as http:
        yield Studio(page, http, context)
    assert off_machine_requests(context) == []  # the studio works with no network
    await context.close()
