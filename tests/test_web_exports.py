"""Web studio exports (issue 13): the gallery's Export action exports what the filters show,
follows the export live and offers its download link; the exports page lists it. Real Chromium,
real stack."""

from __future__ import annotations

import hashlib
import io
import zipfile

import httpx
from playwright.async_api import expect

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
    await page.wait_for_url(f"**/projects/{project_id}/exports")
    row = page.locator("tr[data-export-id]")
    await expect(row).to_have_count(1)
    await expect(row.locator(".export-status")).to_have_text("succeeded")
    await expect(row.get_by_role("link", name="Download")).to_be_visible()
    await screenshot(page, "exports")
