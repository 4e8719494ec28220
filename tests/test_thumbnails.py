"""Thumbnails: publishing writes a WebP of at most 512 px beside each image, exposed as the
asset's `thumbnail_url`; a retried publish writes nothing twice; `studio thumbnails` backfills."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import update
from temporalio.testing import ActivityEnvironment

from activities.storage import StorageActivities
from clients.object_store import ObjectStore
from clients.settings import Settings
from db.models import RenderedAsset
from db.session import SessionFactory
from kernel.object_keys import staging_key, task_prefixes, thumbnail_key
from kernel.payloads import ImageRef, PublishImageInput
from tests.helpers import create_project, create_task, wait_for_task

ROOT = Path(__file__).resolve().parents[1]


async def _rendered_assets(http: httpx.AsyncClient, project_id: str, **body: Any) -> tuple[str, list[dict]]:
    task = await wait_for_task(http, (await create_task(http, project_id, **body))["id"])
    assert task["status"] == "succeeded", task
    listed = await http.get(f"/api/v1/projects/{project_id}/rendered-assets", params={"task_id": task["id"]})
    assert listed.status_code == 200
    return task["id"], sorted(listed.json()["items"], key=lambda a: a["variation_index"])


async def _thumbnail(url: str) -> Image.Image:
    async with httpx.AsyncClient() as anonymous:
        response = await anonymous.get(url)
    assert response.status_code == 200
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def _assert_thumbnail_of(thumb: Image.Image, width: int, height: int) -> None:
    assert thumb.format == "WEBP"
    assert max(thumb.size) == min(512, max(width, height))
    assert abs(thumb.width / thumb.height - width / height) < 0.01 * (width / height) + 1 / thumb.height


async def test_rendered_assets_carry_a_webp_thumbnail_with_their_aspect_ratio(
    http: httpx.AsyncClient, settings: Settings, token: str
) -> None:
    project_id = await create_project(http)
    task_id, assets = await _rendered_assets(
        http, project_id, prompt=f"a harbour at dawn {token}", n=2, aspect_ratio="16:9", image_size="1K"
    )
    _, [banner] = await _rendered_assets(http, project_id, prompt=f"a banner {token}", asset_type="banner")

    for asset in assets:
        assert (asset["width"], asset["height"]) == (1376, 768)
        assert asset["thumbnail_url"]
        _assert_thumbnail_of(await _thumbnail(asset["thumbnail_url"]), 1376, 768)
        one = (await http.get(f"/api/v1/rendered-assets/{asset['id']}")).json()
        _assert_thumbnail_of(await _thumbnail(one["thumbnail_url"]), 1376, 768)
    # A resized asset type: the thumbnail is of the delivered 1500x500 crop, not the model's 21:9.
    assert (banner["width"], banner["height"]) == (1500, 500)
    _assert_thumbnail_of(await _thumbnail(banner["thumbnail_url"]), 1500, 500)

    # Beside each image, and nothing else is left: no staged image or staged thumbnail.
    async with ObjectStore.open(settings) as store:
        keys = [k for prefix in task_prefixes(project_id, task_id) for k in await store.list_keys(prefix)]
    expected = {a["file_key"] for a in assets} | {thumbnail_key(a["file_key"]) for a in assets}
    assert sorted(keys) == sorted(expected)


async def test_a_retried_publish_reuses_its_thumbnail_and_writes_nothing_twice(
    http: httpx.AsyncClient, settings: Settings, token: str
) -> None:
    project_id = await create_project(http)
    task_id, [asset] = await _rendered_assets(http, project_id, prompt=f"a kettle {token}")
    async with ObjectStore.open(settings) as store:
        before = {k: await store.head(k) for p in task_prefixes(project_id, task_id) for k in await store.list_keys(p)}
        # The activity's result was lost after it finished (a worker died): Temporal runs it again
        # with the same input, after staging was already cleaned up.
        staged = ImageRef(
            key=staging_key(project_id, task_id, 0),
            sha256=asset["sha256"],
            size=asset["byte_size"],
            mime=asset["content_type"],
            width=asset["width"],
            height=asset["height"],
            thumbnail_key=thumbnail_key(staging_key(project_id, task_id, 0)),
        )
        again = PublishImageInput(
            staged=staged, final_key=asset["file_key"], expected_width=asset["width"], expected_height=asset["height"]
        )
        ref = await ActivityEnvironment().run(StorageActivities(store).publish_image, again)
        after = {k: await store.head(k) for p in task_prefixes(project_id, task_id) for k in await store.list_keys(p)}

    assert ref.thumbnail_key == thumbnail_key(asset["file_key"])
    assert ref.sha256 == asset["sha256"]
    assert after == before  # same two objects, untouched (same sizes and metadata)
    assert len(after) == 2


def _cli_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "S3_BUCKET": settings.s3_bucket,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": settings.aws_region,
        "LOG_FORMAT": "text",
        "COLUMNS": "200",
    }


def _studio_thumbnails(settings: Settings, *args: str) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "studio"), "thumbnails", *args],
        cwd=ROOT,
        env=_cli_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_studio_thumbnails_backfills_assets_without_one(
    http: httpx.AsyncClient, settings: Settings, sessions: SessionFactory, token: str
) -> None:
    project_id = await create_project(http)
    _, assets = await _rendered_assets(http, project_id, prompt=f"a violin {token}", n=2, aspect_ratio="3:4")
    ids = [uuid.UUID(a["id"]) for a in assets]
    # As published before thumbnails existed: no column value, no object.
    async with sessions() as session, session.begin():
        await session.execute(update(RenderedAsset).where(RenderedAsset.id.in_(ids)).values(thumbnail_key=None))
    async with ObjectStore.open(settings) as store:
        for asset in assets:
            await store.delete(thumbnail_key(asset["file_key"]))
    for asset in assets:
        assert (await http.get(f"/api/v1/rendered-assets/{asset['id']}")).json()["thumbnail_url"] is None

    dry = _studio_thumbnails(settings, "--project", project_id, "--dry-run")
    assert "2 assets without a thumbnail: would make 2" in dry
    assert (await http.get(f"/api/v1/rendered-assets/{assets[0]['id']}")).json()["thumbnail_url"] is None

    done = _studio_thumbnails(settings, "--project", project_id)
    assert "2 assets without a thumbnail: made 2" in done
    for asset in assets:
        fresh = (await http.get(f"/api/v1/rendered-assets/{asset['id']}")).json()
        _assert_thumbnail_of(await _thumbnail(fresh["thumbnail_url"]), asset["width"], asset["height"])
    assert "0 assets without a thumbnail" in _studio_thumbnails(settings, "--project", project_id)
