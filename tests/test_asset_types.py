"""Asset types, brand kits and the catalogue, end to end through the real services."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from gemini_emulator import EmulatorServer
from tests.helpers import create_task, wait_for_task

KIT = {
    "colors": ["#FF3366", "#112233"],
    "fonts": ["Inter"],
    "tone": "playful",
    "style_keywords": ["flat vector"],
    "negative_keywords": ["photorealism"],
}


async def test_banner_is_rendered_at_21_9_and_delivered_at_exactly_1500x500(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    project = (await http.post("/api/v1/projects", json={"name": "brand", "brand_kit": KIT})).json()
    assert project["brand_kit"]["colors"] == ["#ff3366", "#112233"]

    created = await create_task(http, project["id"], prompt=f"a rocket {token}", asset_type="banner")
    task = await wait_for_task(http, created["id"])

    assert task["status"] == "succeeded", task
    assert task["parameters"]["aspect_ratio"] == "21:9"
    [call] = emulator.calls(token)
    for value in ("#ff3366", "#112233", "Inter", "playful", "flat vector", "Avoid: photorealism"):
        assert value in call.prompt
    asset = (await http.get(f"/api/v1/rendered-assets/{task['asset_ids'][0]}")).json()
    assert (asset["width"], asset["height"], asset["asset_type"]) == (1500, 500, "banner")
    assert asset["metadata"]["resize"] == {
        "from": [1584, 672],
        "to": [1500, 500],
        "method": "cover-centre-crop-lanczos",
    }
    async with httpx.AsyncClient() as anonymous:
        image = Image.open(io.BytesIO((await anonymous.get(asset["url"])).content))
    assert (image.format, image.size) == ("PNG", (1500, 500))


async def test_brand_kit_edits_apply_to_later_tasks_only(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    project_id = (await http.post("/api/v1/projects", json={"name": "p", "brand_kit": KIT})).json()["id"]
    first = await create_task(http, project_id, prompt=f"first {token}")
    patched = await http.patch(f"/api/v1/projects/{project_id}", json={"brand_kit": {"colors": ["#00ff00"]}})
    second = await create_task(http, project_id, prompt=f"second {token}")
    await wait_for_task(http, first["id"])
    await wait_for_task(http, second["id"])

    assert patched.status_code == 200
    prompts = {c.prompt.split(" ")[0]: c.prompt for c in emulator.calls(token)}
    assert "#ff3366" in prompts["first"] and "#00ff00" not in prompts["first"]
    assert "#00ff00" in prompts["second"] and "#ff3366" not in prompts["second"]


async def test_asset_type_conflicts_and_bad_brand_kits_are_422(http: httpx.AsyncClient) -> None:
    project_id = (await http.post("/api/v1/projects", json={"name": "p"})).json()["id"]
    url = f"/api/v1/projects/{project_id}/tasks"

    conflict = await http.post(url, json={"name": "t", "prompt": "x", "asset_type": "story", "aspect_ratio": "16:9"})
    unknown = await http.post(url, json={"name": "t", "prompt": "x", "asset_type": "poster"})
    bad_kit = await http.post("/api/v1/projects", json={"name": "p", "brand_kit": {"colors": ["red"]}})

    assert conflict.status_code == unknown.status_code == bad_kit.status_code == 422
    assert "9:16" in conflict.json()["error"]["message"]
    assert "poster" in unknown.json()["error"]["message"]
    assert "#rrggbb" in bad_kit.json()["error"]["message"]


async def test_catalogue_lists_models_and_asset_types(http: httpx.AsyncClient) -> None:
    models = {m["name"]: m for m in (await http.get("/api/v1/models")).json()}
    kinds = {k["name"]: k for k in (await http.get("/api/v1/asset-types")).json()}

    assert models["gemini-3-pro-image-preview"]["image_sizes"] == ["1K", "2K", "4K"]
    assert models["gemini-2.5-flash-image"]["image_sizes"] == []
    assert models["gemini-3-pro-image-preview"]["sizes_1k"]["16:9"] == [1376, 768]
    assert models["gemini-3-pro-image-preview"]["max_reference_images"] == 14
    expected = {
        "thumbnail": (1280, 720), "banner": (1500, 500), "emote": (112, 112), "emote_small": (28, 28),
        "overlay": (1920, 1080), "story": (1080, 1920), "square_post": (1080, 1080),
    }  # fmt: skip
    for name, size in expected.items():
        assert (kinds[name]["width"], kinds[name]["height"]) == size
