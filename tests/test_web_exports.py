"""Web studio exports (issue 13): the gallery's Export action exports what the filters show,
follows the export live and offers its download link; the exports page lists it; a proxy's
non-JSON error is shown and a double click makes one export. Real Chromium, real stack."""

from __future__ import annotations

import hashlib
import io
import zipfile

import httpx
from playwright.async_api import Request, Route, expect

from tests.test_web_gallery import open_gallery, rendered_task
from tests.web_browser import Studio, browser, screenshot, studio

__all__ = ["browser", "studio"]


async def test_export_the_filtered_gallery_as_a_zip_and_download_it(studio: Studio, token: str) -> None:
    project_id = await studio.project()
    task = await rendered_task(studio, project_id, prompt=f"two teapots {token}", n=2)
    approved = task["asset_ids"][1]
    response = await studio.http.patch(f"/api/v1/rendered-assets/{approved}", json={"state": "approved"})
    assert response.status_code == 200, response.text

    page = studio.page
    await open_gallery(page, project_id, "?state=approved")
    await expect(page.locator(".tile")).to_have_count(1)
    await page.get_by_label("Export as").select_option("zip")
    await page.get_by_role("button", name="Export filtered images").click()
    link = page.locator("#export-download")
    await expect(link).to_be_visible()
    await expect(page.locator("#export-status")).to_contain_text("succeeded")
    await screenshot(page, "gallery-export", full_page=False)

    async with httpx.AsyncClient() as anonymous:
        data = (await anonymous.get(str(await link.get_attribute("href")))).content
    archive = zipfile.ZipFile(io.BytesIO(data))
    images = [n for n in archive.namelist() if n.startswith("images/")]
    expected = (await studio.http.get(f"/api/v1/rendered-assets/{approved}")).json()["sha256"]
    assert [hashlib.sha256(archive.read(n)).hexdigest() for n in images] == [expected]

    await page.get_by_role("link", name="All exports").click()
    await page.wait_for_url(f"**/projects/{project_id}/exports", wait_until="domcontentloaded")
    row = page.locator("tr[data-export-id]")
    await expect(row).to_have_count(1)
    await expect(row.locator(".export-status")).to_have_text("succeeded")
    await expect(row.get_by_role("link", name="Download")).to_be_visible()
    await screenshot(page, "exports")


async def test_a_proxy_error_is_shown_and_a_double_click_makes_one_export(studio: Studio, token: str) -> None:
    """A non-JSON 502 (a proxy's page) shows an error and frees the button; a double click on
    Export starts one export, sent with one Idempotency-Key."""
    project_id = await studio.project()
    await rendered_task(studio, project_id, prompt=f"a single kettle {token}", n=1)
    page = studio.page
    await open_gallery(page, project_id)
    exports_url = f"**/api/v1/projects/{project_id}/exports"

    async def bad_gateway(route: Route) -> None:
        body = "<html><body><h1>502 Bad Gateway</h1></body></html>"
        await route.fulfill(status=502, content_type="text/html", body=body)

    await page.route(exports_url, bad_gateway)
    button = page.locator("#export-start")
    await button.click()
    await expect(page.locator("#export-status")).to_contain_text("Export failed: the server answered 502")
    await expect(button).to_be_enabled()
    await page.unroute(exports_url)

    keys: list[str | None] = []

    def posted(request: Request) -> None:
        if request.method == "POST" and request.url.endswith(f"/projects/{project_id}/exports"):
            keys.append(request.headers.get("idempotency-key"))

    page.on("request", posted)
    await button.dblclick()
    await expect(page.locator("#export-download")).to_be_visible()
    await expect(button).to_be_enabled()
    listed = (await studio.http.get(f"/api/v1/projects/{project_id}/exports")).json()["items"]
    assert len(listed) == 1, listed
    assert len(keys) == 1 and keys[0], keys
