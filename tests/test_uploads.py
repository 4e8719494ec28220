"""Uploads for editing: a presigned PUT straight to S3 (moto), then the API verifies the object
with Pillow and registers it as an asset of type "upload", usable as a reference image. Refused
files get `invalid_upload` and leave no object behind."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import uuid
import zlib
from typing import Any

import httpx
import pytest
from PIL import Image

from clients.object_store import ObjectStore
from clients.settings import Settings
from db.session import SessionFactory
from gemini_emulator import EmulatorServer
from kernel.object_keys import thumbnail_key, upload_key
from tests.helpers import client_as_new_user, create_project, create_task, serve_api, wait_for_task


def _image(fmt: str, size: tuple[int, int]) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def _blank_png(width: int, height: int) -> bytes:
    """A real 1-bit PNG of `width` x `height` black pixels: tiny on disk, huge once decoded
    (the shape of a decompression bomb). Written by hand so the test never holds the bitmap."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


async def _start(http: httpx.AsyncClient, project_id: str, content_type: str, size: int) -> httpx.Response:
    body = {"filename": "photo", "content_type": content_type, "byte_size": size}
    return await http.post(f"/api/v1/projects/{project_id}/uploads", json=body)


async def _put(upload: dict[str, Any], data: bytes) -> None:
    async with httpx.AsyncClient() as s3_client:  # straight to S3, no API key
        put = await s3_client.put(upload["put_url"], content=data, headers=upload["put_headers"])
    assert put.status_code == 200, put.text


async def _upload(http: httpx.AsyncClient, project_id: str, content_type: str, data: bytes) -> httpx.Response:
    """Start, PUT and complete an upload; the completion's response."""
    started = await _start(http, project_id, content_type, len(data))
    assert started.status_code == 201, started.text
    await _put(started.json(), data)
    return await http.post(f"/api/v1/uploads/{started.json()['id']}/complete")


async def _object_exists(settings: Settings, key: str) -> bool:
    async with ObjectStore.open(settings) as store:
        return await store.head(key) is not None


async def _fetch(url: str) -> bytes:
    async with httpx.AsyncClient() as anonymous:
        response = await anonymous.get(url)
    assert response.status_code == 200
    return response.content


@pytest.mark.parametrize(
    ("fmt", "content_type", "size"),
    [("PNG", "image/png", (1200, 800)), ("JPEG", "image/jpeg", (640, 960)), ("WEBP", "image/webp", (300, 200))],
)
async def test_a_good_image_becomes_an_upload_asset_with_a_thumbnail(
    http: httpx.AsyncClient, fmt: str, content_type: str, size: tuple[int, int]
) -> None:
    project_id = await create_project(http)
    data = _image(fmt, size)
    started = await _start(http, project_id, content_type, len(data))
    upload = started.json()
    assert started.status_code == 201
    assert upload["put_headers"] == {"Content-Type": content_type}
    assert upload["max_bytes"] == 25 * 1024 * 1024
    await _put(upload, data)

    completed = await http.post(f"/api/v1/uploads/{upload['id']}/complete")
    again = await http.post(f"/api/v1/uploads/{upload['id']}/complete")

    assert completed.status_code == 201, completed.text
    asset = completed.json()
    assert (asset["asset_type"], asset["task_id"], asset["variation_index"]) == ("upload", None, None)
    assert (asset["content_type"], asset["width"], asset["height"]) == (content_type, *size)
    assert asset["byte_size"] == len(data)
    assert asset["metadata"]["upload"] == {"id": upload["id"], "filename": "photo"}
    assert asset["sha256"] == hashlib.sha256(data).hexdigest()
    assert await _fetch(asset["url"]) == data
    thumb = Image.open(io.BytesIO(await _fetch(asset["thumbnail_url"])))
    assert thumb.format == "WEBP"
    assert max(thumb.size) == min(512, max(size))
    assert abs(thumb.width / thumb.height - size[0] / size[1]) < 0.01
    assert again.status_code == 200
    assert again.json()["id"] == asset["id"]
    listed = await http.get(f"/api/v1/projects/{project_id}/rendered-assets", params={"asset_type": "upload"})
    assert [a["id"] for a in listed.json()["items"]] == [asset["id"]]


async def test_a_photo_of_many_megabytes_completes_whole(http: httpx.AsyncClient) -> None:
    """A 12 MB PNG (noise does not compress) comes back from S3 in many pieces: completing it
    reads all of them (it once read only the first, and a big upload failed as "truncated")."""
    project_id = await create_project(http)
    noise = Image.frombytes("RGB", (2000, 2000), os.urandom(2000 * 2000 * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG", compress_level=0)
    data = out.getvalue()

    completed = await _upload(http, project_id, "image/png", data)

    assert completed.status_code == 201, completed.text
    assert completed.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert completed.json()["byte_size"] == len(data) > 12_000_000


@pytest.mark.parametrize(
    ("content_type", "data", "why"),
    [
        ("image/png", b"this is a text file, not a picture\n" * 20, "not a PNG, JPEG or WebP image"),
        ("image/jpeg", _image("PNG", (64, 64)), "declared image/jpeg but is image/png"),
        ("image/png", _image("PNG", (512, 512))[:-200], "does not decode"),  # truncated
        ("image/png", _blank_png(9000, 6000), "9000x6000 = 54,000,000 pixels; at most 50,000,000"),
        ("image/png", _blank_png(20000, 20000), "too many pixels"),  # past Pillow's own bomb guard
    ],
    ids=["text", "type-mismatch", "truncated", "too-many-pixels", "decompression-bomb"],
)
async def test_a_bad_file_is_refused_and_its_object_deleted(
    http: httpx.AsyncClient, settings: Settings, content_type: str, data: bytes, why: str
) -> None:
    project_id = await create_project(http)
    started = (await _start(http, project_id, content_type, len(data))).json()
    await _put(started, data)
    key = f"projects/{project_id}/uploads/{started['id']}.{content_type.split('/')[1].replace('jpeg', 'jpg')}"
    assert await _object_exists(settings, key)

    refused = await http.post(f"/api/v1/uploads/{started['id']}/complete")

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_upload"
    assert why in refused.json()["error"]["message"]
    assert not await _object_exists(settings, key)
    assert not await _object_exists(settings, thumbnail_key(key))
    assert not await _object_exists(settings, key.replace("/uploads/", "/assets/"))
    listed = await http.get(f"/api/v1/projects/{project_id}/rendered-assets")
    assert listed.json()["items"] == []
    again = await http.post(f"/api/v1/uploads/{started['id']}/complete")
    assert (again.status_code, again.json()["error"]["code"]) == (422, "invalid_upload")


async def test_nothing_uploaded_bad_declarations_and_the_size_cap(
    http: httpx.AsyncClient, settings: Settings, sessions: SessionFactory
) -> None:
    project_id = await create_project(http)
    started = (await _start(http, project_id, "image/png", 1000)).json()
    missing = await http.post(f"/api/v1/uploads/{started['id']}/complete")
    oversize = await _start(http, project_id, "image/png", 25 * 1024 * 1024 + 1)
    gif = await _start(http, project_id, "image/gif", 1000)
    empty = await _start(http, project_id, "image/png", 0)

    assert (missing.status_code, missing.json()["error"]["code"]) == (422, "invalid_upload")
    assert "nothing was uploaded" in missing.json()["error"]["message"]
    assert (oversize.status_code, oversize.json()["error"]["code"]) == (422, "invalid_request")
    assert "over the limit of 26214400 bytes" in oversize.json()["error"]["message"]
    assert (gif.status_code, gif.json()["error"]["code"]) == (422, "invalid_request")
    assert empty.status_code == 422

    # A file bigger than the cap, though declared small (S3 does not enforce the declared size).
    async with (
        serve_api(settings.model_copy(update={"upload_max_bytes": 2000})) as small,
        client_as_new_user(small.base_url, sessions) as client,
    ):
        small_project = await create_project(client)
        noise = io.BytesIO()
        Image.effect_noise((64, 64), 64).save(noise, format="PNG")  # noise does not compress
        data = noise.getvalue()
        assert len(data) > 2000
        lying = (await _start(client, small_project, "image/png", 1500)).json()
        await _put(lying, data)
        too_big = await client.post(f"/api/v1/uploads/{lying['id']}/complete")
        assert (too_big.status_code, too_big.json()["error"]["code"]) == (422, "invalid_upload")
        assert f"the file is {len(data)} bytes; at most 2000" in too_big.json()["error"]["message"]
        assert not await _object_exists(settings, f"projects/{small_project}/uploads/{lying['id']}.png")


async def test_another_users_project_and_upload_are_not_found(
    http: httpx.AsyncClient, other_http: httpx.AsyncClient
) -> None:
    project_id = await create_project(http)
    data = _image("PNG", (32, 32))
    started = (await _start(http, project_id, "image/png", len(data))).json()
    await _put(started, data)

    into_mine = await _start(other_http, project_id, "image/png", len(data))
    theirs_complete = await other_http.post(f"/api/v1/uploads/{started['id']}/complete")
    mine = await http.post(f"/api/v1/uploads/{started['id']}/complete")
    assert mine.status_code == 201, mine.text
    theirs_read = await other_http.get(f"/api/v1/rendered-assets/{mine.json()['id']}")

    assert into_mine.status_code == 404
    assert theirs_complete.status_code == 404
    assert theirs_read.status_code == 404


async def test_an_upload_is_a_reference_image_and_a_lineage_parent(
    http: httpx.AsyncClient, settings: Settings, emulator: EmulatorServer, token: str
) -> None:
    project_id = await create_project(http)
    completed = await _upload(http, project_id, "image/jpeg", _image("JPEG", (800, 600)))
    upload_id = completed.json()["id"]

    created = await create_task(
        http, project_id, prompt=f"make it a watercolour {token}", reference_asset_ids=[upload_id]
    )
    task = await wait_for_task(http, created["id"])

    assert task["status"] == "succeeded", task
    [call] = emulator.calls(token)
    assert call.reference_images == 1
    [child] = task["asset_ids"]
    child_lineage = (await http.get(f"/api/v1/rendered-assets/{child}/lineage")).json()
    upload_lineage = (await http.get(f"/api/v1/rendered-assets/{upload_id}/lineage")).json()
    assert [(a["id"], a["depth"]) for a in child_lineage["ancestors"]] == [(upload_id, 1)]
    assert [(a["id"], a["depth"]) for a in upload_lineage["descendants"]] == [(child, 1)]
    assert upload_lineage["ancestors"] == []
    # Lists filtered by task leave the upload out; unfiltered they show both.
    by_task = await http.get(f"/api/v1/projects/{project_id}/rendered-assets", params={"task_id": task["id"]})
    everything = await http.get(f"/api/v1/projects/{project_id}/rendered-assets")
    assert [a["id"] for a in by_task.json()["items"]] == [child]
    assert {a["id"] for a in everything.json()["items"]} == {child, upload_id}

    # Deleting the upload removes its image and thumbnail; the child keeps its image.
    upload = completed.json()
    assert (await http.delete(f"/api/v1/rendered-assets/{upload_id}")).status_code == 204
    assert not await _object_exists(settings, upload["file_key"])
    assert not await _object_exists(settings, thumbnail_key(upload["file_key"]))
    assert (await http.get(f"/api/v1/rendered-assets/{child}")).status_code == 200


async def test_a_put_to_the_old_url_after_complete_cannot_change_the_asset(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    """The PUT URL stays valid for UPLOAD_URL_TTL_S after completion; the asset lives at its
    own key, so bytes PUT there later (even a bigger file) are not the asset's."""
    project_id = await create_project(http)
    data = _image("PNG", (400, 300))
    started = (await _start(http, project_id, "image/png", len(data))).json()
    await _put(started, data)
    old_key = upload_key(project_id, started["id"], "image/png")

    completed = await http.post(f"/api/v1/uploads/{started['id']}/complete")

    assert completed.status_code == 201, completed.text
    asset = completed.json()
    assert asset["file_key"] == f"projects/{project_id}/assets/{started['id']}.png"
    assert asset["file_key"] != old_key
    assert not await _object_exists(settings, old_key)

    other = _image("JPEG", (1600, 1200))  # other bytes, other size, another type
    async with httpx.AsyncClient() as s3_client:  # the old URL, still inside its TTL
        replaced = await s3_client.put(started["put_url"], content=other, headers=started["put_headers"])
    assert replaced.status_code == 200, replaced.text

    again = await http.post(f"/api/v1/uploads/{started['id']}/complete")
    assert (again.status_code, again.json()["id"]) == (200, asset["id"])
    fresh = (await http.get(f"/api/v1/rendered-assets/{asset['id']}")).json()
    stored = await _fetch(fresh["url"])
    assert hashlib.sha256(stored).hexdigest() == fresh["sha256"] == hashlib.sha256(data).hexdigest()
    assert len(stored) == fresh["byte_size"] == len(data)
    assert Image.open(io.BytesIO(await _fetch(fresh["thumbnail_url"]))).size == (400, 300)
    # What the late PUT wrote is an object no asset points to.
    async with ObjectStore.open(settings) as store:
        assert await store.get(old_key) == other
        await store.delete(old_key)


async def test_a_bounded_read_never_returns_more_than_asked(settings: Settings) -> None:
    """`ObjectStore.get_at_most`, which `complete` reads the upload with (a range GET)."""
    key = f"tests/bounded/{uuid.uuid4()}"
    async with ObjectStore.open(settings) as store:
        await store.put(key, b"0123456789", "application/octet-stream", {})
        await store.put(f"{key}-empty", b"", "application/octet-stream", {})
        try:
            assert await store.get_at_most(key, 4) == b"0123"
            assert await store.get_at_most(key, 11) == b"0123456789"
            assert await store.get_at_most(f"{key}-empty", 11) == b""
            assert await store.get_at_most(f"{key}-missing", 11) is None
        finally:
            await store.delete(key)
            await store.delete(f"{key}-empty")
