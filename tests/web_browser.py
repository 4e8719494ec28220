"""Browser-test helpers: Debian's Chromium driven by Playwright (never `playwright install`),
signing in through the page like a person, and screenshots for docs/screenshots/."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from db.session import SessionFactory
from db.users import create_user

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


async def new_context(browser: Browser, base_url: str, viewport: dict[str, int] = DESKTOP) -> BrowserContext:
    """A fresh browser profile (no cookies) on `base_url`; dialogs are accepted."""
    context = await browser.new_context(base_url=base_url, viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(20_000)
    return context


async def sign_in(context: BrowserContext, api_key: str) -> Page:
    """Sign in through the form like a person; returns the page, on the projects list."""
    page = await context.new_page()
    await page.goto("/sign-in")
    await page.get_by_label("API key").fill(api_key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/projects")
    return page


async def screenshot(page: Page, name: str, full_page: bool = True) -> None:
    """Save the page as docs/screenshots/<name>.png (committed, shown in the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
