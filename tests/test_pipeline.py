"""The render pipeline end to end: HTTP -> Temporal workflow -> Gemini emulator -> S3 -> Postgres."""

from __future__ import annotations

import hashlib
import io

import httpx
from PIL import Image

from gemini_emulator import EmulatorServer
from tests.helpers import create_project, create_task, wait_for_task


async def test_two_variations_render_store_and_download(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    project_id = await create_project(http)
    created = await create_task(
        http, project_id, prompt=f"a lighthouse at dusk {token}", n=2, aspect_ratio="16:9", image_size="1K"
    )
    assert created["status"] == "queued"
    assert created["temporal_ui_url"].endswith(f"/namespaces/default/workflows/{created['workflow_id']}")

    task = await wait_for_task(http, created["id"])
    assert task["status"] == "succeeded", task
    assert [v["state"] for v in task["variations"]] == ["succeeded", "succeeded"]
    assert len(emulator.calls(token)) == 2  # one model call per variation, no more

    listed = await http.get(f"/api/v1/projects/{project_id}/rendered-assets", params={"task_id": created["id"]})
    assert listed.status_code == 200
    assets = listed.json()["items"]
    assert sorted(a["variation_index"] for a in assets) == [0, 1]
    async with httpx.AsyncClient() as anonymous:
        for asset in assets:
            download = await anonymous.get(asset["url"])
            assert download.status_code == 200
            image = Image.open(io.BytesIO(download.content))
            assert (image.format, image.size) == ("PNG", (1376, 768))
            assert hashlib.sha256(download.content).hexdigest() == asset["sha256"]
            assert asset["byte_size"] == len(download.content)
            assert asset["file_key"] == f"projects/{project_id}/tasks/{created['id']}/{asset['variation_index']}.png"
            assert asset["metadata"]["model"] == "gemini-3-pro-image-preview"
            assert asset["metadata"]["response_id"]
            assert asset["state"] == "draft"
