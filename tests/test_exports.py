"""Exports (issue 13) through the real stack: the API starts an `ExportWorkflow`, a real worker
builds the file into S3 (SeaweedFS), and the test downloads it from the presigned URL.

- a ZIP of 3 rendered assets holds exactly their bytes and a manifest matching their rows;
- a contact sheet has the grid's pixel size, an image in each used cell, captions below;
- an MP4 decodes (PyAV) to the expected frame size, frame count and duration, and an image of
  another aspect ratio is letterboxed, not stretched;
- a worker stopped in the middle of a large ZIP: the next worker resumes from the checkpoint
  and the archive is valid with no duplicate member;
- cancel stops an export and leaves no object (nor an unfinished upload);
- an MP4 whose one encode step outlasts the build's heartbeat timeout succeeds at its first
  attempt (the step heartbeats), and one over the encoding budget is refused with 422;
- failed and canceled exports still say so (with their error) after Temporal forgets them;
- a contact sheet whose asset lost its thumbnail object uses the original;
- another user's export is 404; the Idempotency-Key answers the same export.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import av
import httpx
import pytest
from PIL import Image
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.exports import ExportActivities
from activities.housekeeping import HousekeepingActivities
from clients.object_store import ObjectStore
from clients.settings import Settings
from db.assets import insert_upload_asset
from db.exports import insert_export_if_absent
from db.session import SessionFactory
from kernel.exports import MP4_MAX_PIXEL_FRAMES, ExportFile, ExportInput, ExportOptions, ZipCheckpoint, export_key
from kernel.object_keys import thumbnail_key
from kernel.payloads import ImageRef
from tests.helpers import TERMINAL, create_project, create_task, wait_for_task
from workflows import registry
from workflows.export import ExportWorkflow

EXPORT_TERMINAL = TERMINAL | {"expired"}


async def wait_for_export(http: httpx.AsyncClient, export_id: str, timeout_s: float = 120) -> dict[str, Any]:
    """Poll GET /exports/{id} until it is terminal."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await http.get(f"/api/v1/exports/{export_id}")
        assert response.status_code == 200, response.text
        export = dict(response.json())
        if export["status"] in EXPORT_TERMINAL:
            return export
        assert time.monotonic() < deadline, f"export stuck: {export}"
        await asyncio.sleep(0.2)


async def start_export(http: httpx.AsyncClient, project_id: str, **body: Any) -> dict[str, Any]:
    response = await http.post(f"/api/v1/projects/{project_id}/exports", json=body)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def forget_workflow(temporal: Client, workflow_id: str) -> None:
    """Delete the workflow's execution, as Temporal's retention does, and wait until it is gone."""
    await temporal.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=temporal.namespace, workflow_execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # asynchronous: 20-35 s on the dev server
        try:
            await temporal.get_workflow_handle(workflow_id).describe()
        except RPCError:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} was not deleted")


async def download(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=60) as anonymous:
        response = await anonymous.get(url)
    assert response.status_code == 200, response.text
    return response.content


async def rendered(http: httpx.AsyncClient, project_id: str, **body: Any) -> list[dict[str, Any]]:
    """The assets of a new task (variation order)."""
    task = await wait_for_task(http, (await create_task(http, project_id, **body))["id"])
    assert task["status"] == "succeeded", task
    listed = await http.get(f"/api/v1/projects/{project_id}/rendered-assets", params={"task_id": task["id"]})
    assert listed.status_code == 200, listed.text
    return sorted(listed.json()["items"], key=lambda a: a["variation_index"])


async def test_a_zip_of_three_assets_holds_their_bytes_and_a_manifest_matching_the_rows(
    http: httpx.AsyncClient, token: str
) -> None:
    project_id = await create_project(http)
    assets = await rendered(http, project_id, name="Harbour", prompt=f"a harbour at dawn {token}", n=3)
    task = (await http.get(f"/api/v1/tasks/{assets[0]['task_id']}")).json()
    ids = [a["id"] for a in assets]

    created = await start_export(http, project_id, format="zip", asset_ids=ids)
    assert created["status"] == "queued" and created["progress"] == {"done": 0, "total": 3}
    assert created["temporal_ui_url"].endswith(f"/workflows/export-{created['id']}")
    export = await wait_for_export(http, created["id"])
    assert export["status"] == "succeeded", export
    assert export["progress"] == {"done": 3, "total": 3}

    data = await download(export["url"])
    assert len(data) == export["size"]
    assert hashlib.sha256(data).hexdigest() == export["sha256"]
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == [
        "images/0001-harbour-v0.png",
        "images/0002-harbour-v1.png",
        "images/0003-harbour-v2.png",
        "manifest.json",
        "manifest.csv",
    ]
    for name, asset in zip(names, assets, strict=False):
        assert hashlib.sha256(archive.read(name)).hexdigest() == asset["sha256"]
        assert archive.getinfo(name).file_size == asset["byte_size"]

    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["export_id"] == export["id"]
    for record, name, asset in zip(manifest["images"], names[:3], assets, strict=True):
        assert record["file"] == name
        assert record["asset_id"] == asset["id"]
        assert record["task_id"] == task["id"]
        assert record["task_name"] == "Harbour"
        assert record["variation_index"] == asset["variation_index"]
        assert record["state"] == asset["state"]
        assert record["prompt"] == task["prompt"]
        assert record["parameters"] == task["parameters"]
        assert record["model"] == task["parameters"]["model"]
        assert record["model_version"] == asset["metadata"]["model_version"]
        assert record["sha256"] == asset["sha256"]
        assert record["cost_micro_usd"] == (asset["cost"] or {}).get("micro_usd")
        assert record["lineage"]["task_id"] == task["id"]
        assert record["lineage"]["parent_asset_ids"] == []
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert [r["asset_id"] for r in rows] == ids
    assert [r["sha256"] for r in rows] == [a["sha256"] for a in assets]
    assert {r["prompt"] for r in rows} == {task["prompt"]}

    # The list shows it; the same Idempotency-Key body pair is one export.
    listed = (await http.get(f"/api/v1/projects/{project_id}/exports")).json()["items"]
    assert [e["id"] for e in listed] == [export["id"]]


async def test_idempotency_key_returns_the_same_export_and_refuses_another_body(
    http: httpx.AsyncClient, token: str
) -> None:
    project_id = await create_project(http)
    assets = await rendered(http, project_id, prompt=f"a lighthouse {token}", n=1)
    headers = {"Idempotency-Key": f"export-{token}"}
    body = {"format": "zip", "asset_ids": [assets[0]["id"]]}
    first = await http.post(f"/api/v1/projects/{project_id}/exports", json=body, headers=headers)
    second = await http.post(f"/api/v1/projects/{project_id}/exports", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["id"] == second.json()["id"]
    other = await http.post(
        f"/api/v1/projects/{project_id}/exports", json={**body, "format": "contact_sheet"}, headers=headers
    )
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["error"]["message"]
    await wait_for_export(http, first.json()["id"])


async def test_bad_selections_are_refused_with_422(http: httpx.AsyncClient, token: str) -> None:
    project_id = await create_project(http)
    url = f"/api/v1/projects/{project_id}/exports"
    nothing = await http.post(url, json={"format": "zip"})
    assert nothing.status_code == 422 and "nothing to export" in nothing.json()["error"]["message"]
    unknown = await http.post(url, json={"format": "zip", "asset_ids": [str(uuid.uuid4())]})
    assert unknown.status_code == 422 and "not found" in unknown.json()["error"]["message"]
    both = await http.post(url, json={"format": "zip", "asset_ids": [str(uuid.uuid4())], "filter": {}})
    assert both.status_code == 422
    fade = await http.post(url, json={"format": "mp4", "options": {"seconds_per_image": 1, "crossfade_s": 1}})
    assert fade.status_code == 422
    assert (await http.post(url, json={"format": "gif"})).status_code == 422


async def test_a_contact_sheet_has_the_grid_size_and_an_image_in_each_cell(http: httpx.AsyncClient, token: str) -> None:
    project_id = await create_project(http)
    assets = await rendered(http, project_id, name="Sheet", prompt=f"a meadow {token}", n=3, aspect_ratio="16:9")
    assets += await rendered(http, project_id, name="Sheet", prompt=f"a tower {token}", n=2, aspect_ratio="9:16")
    export = await wait_for_export(
        http,
        (
            await start_export(
                http, project_id, format="contact_sheet", filter={"state": "draft"}, options={"thumb_px": 128}
            )
        )["id"],
    )
    assert export["status"] == "succeeded", export
    assert export["content_type"] == "image/png" and export["progress"]["total"] == 5
    sheet = Image.open(io.BytesIO(await download(export["url"]))).convert("RGB")
    # 5 images: ceil(sqrt(5)) = 3 columns, 2 rows; a cell is 128 + 2 * 8 wide, 128 + 36 + 2 * 8 high.
    cell_w, cell_h = 128 + 16, 128 + 36 + 16
    assert sheet.size == (3 * cell_w, 2 * cell_h)
    white = (255, 255, 255)
    for index in range(6):
        row, column = divmod(index, 3)
        centre = (column * cell_w + cell_w // 2, row * cell_h + 8 + 64)
        caption = sheet.crop(
            (column * cell_w + 8, row * cell_h + 8 + 128, (column + 1) * cell_w - 8, (row + 1) * cell_h)
        )
        if index < 5:
            assert sheet.getpixel(centre) != white, f"cell {index} has no image"
            assert caption.getextrema() != ((255, 255),) * 3, f"cell {index} has no caption"
        else:
            assert sheet.getpixel(centre) == white, "the sixth cell is empty"
    # Newest first: cells 0-1 hold the 9:16 images (white beside them in their square), cells
    # 2-4 the 16:9 ones (white above and below): scaled to fit, never stretched.
    assert sheet.getpixel((8 + 2, 8 + 64)) == white and sheet.getpixel((cell_w // 2, 8 + 2)) != white
    assert sheet.getpixel((2 * cell_w + cell_w // 2, 8 + 2)) == white
    assert sheet.getpixel((2 * cell_w + 8 + 2, 8 + 64)) != white


async def test_an_mp4_decodes_to_the_expected_frames_and_letterboxes_other_aspect_ratios(
    http: httpx.AsyncClient, token: str
) -> None:
    project_id = await create_project(http)
    square = await rendered(http, project_id, prompt=f"a square cat {token}", n=2, aspect_ratio="1:1")
    wide = await rendered(http, project_id, prompt=f"a wide road {token}", n=1, aspect_ratio="16:9")
    ids = [square[0]["id"], wide[0]["id"], square[1]["id"]]
    options = {"width": 320, "height": 180, "fps": 10, "seconds_per_image": 1.5, "crossfade_s": 0.5}
    export = await wait_for_export(
        http, (await start_export(http, project_id, format="mp4", asset_ids=ids, options=options))["id"]
    )
    assert export["status"] == "succeeded", export
    data = await download(export["url"])
    assert hashlib.sha256(data).hexdigest() == export["sha256"]
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [frame.to_image() for frame in container.decode(stream)]
        assert container.duration is not None
        duration_s = container.duration / av.time_base
    assert len(frames) == 3 * 15  # 1.5 s at 10 fps per image
    assert all(frame.size == (320, 180) for frame in frames)
    assert duration_s == pytest.approx(4.5, abs=0.11)
    # Frame 0 is the square image pillarboxed in 16:9 (black bars left and right); frame 20 is
    # the wide image, filling the frame.
    first, wide_frame = frames[0], frames[20]
    assert max(first.getpixel((10, 90))) < 24 and max(first.getpixel((310, 90))) < 24
    assert max(first.getpixel((160, 90))) > 24
    assert max(max(wide_frame.getpixel((x, 90))) for x in (10, 310)) > 24


async def test_another_users_export_is_not_found(
    http: httpx.AsyncClient, other_http: httpx.AsyncClient, token: str
) -> None:
    project_id = await create_project(http)
    assets = await rendered(http, project_id, prompt=f"a secret garden {token}", n=1)
    export = await start_export(http, project_id, format="zip", asset_ids=[assets[0]["id"]])
    for response in (
        await other_http.get(f"/api/v1/exports/{export['id']}"),
        await other_http.post(f"/api/v1/exports/{export['id']}/cancel"),
        await other_http.get(f"/api/v1/projects/{project_id}/exports"),
        await other_http.post(f"/api/v1/projects/{project_id}/exports", json={"format": "zip"}),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    await wait_for_export(http, export["id"])


BIG_ASSET_BYTES = 6 * 1024 * 1024


async def _big_uploads(settings: Settings, sessions: SessionFactory, project_id: str, count: int) -> list[str]:
    """`count` assets of BIG_ASSET_BYTES random bytes each (upload assets written straight to
    the database and S3: a large archive's worth of data without rendering it)."""
    ids: list[str] = []
    async with ObjectStore.open(settings) as store:
        for index in range(count):
            data = os.urandom(BIG_ASSET_BYTES)
            key = f"projects/{project_id}/uploads/{uuid.uuid4()}.png"
            digest = hashlib.sha256(data).hexdigest()
            await store.put(key, data, "image/png", {}, sha256=digest)
            ref = ImageRef(key=key, sha256=digest, size=len(data), mime="image/png", width=1, height=1)
            async with sessions() as session:
                asset = await insert_upload_asset(session, uuid.UUID(project_id), ref, {"filename": f"{index}.png"})
                await session.commit()
            ids.append(str(asset.id))
    return ids


async def test_cancel_stops_the_export_and_leaves_no_object(
    http: httpx.AsyncClient, settings: Settings, sessions: SessionFactory
) -> None:
    project_id = await create_project(http)
    ids = await _big_uploads(settings, sessions, project_id, 30)
    export = await start_export(http, project_id, format="zip", asset_ids=ids)
    deadline = time.monotonic() + 60
    while (current := (await http.get(f"/api/v1/exports/{export['id']}")).json())["progress"]["done"] < 1:
        assert current["status"] in ("queued", "running"), current
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    canceled = await http.post(f"/api/v1/exports/{export['id']}/cancel")
    assert canceled.status_code == 202, canceled.text
    final = await wait_for_export(http, export["id"])
    assert final["status"] == "canceled" and final["url"] is None, final
    assert final["progress"]["done"] < 30
    key = export_key(project_id, export["id"], "zip")
    async with ObjectStore.open(settings) as store:
        assert await store.head(key) is None
        assert await store.abort_multipart_uploads(key) == 0, "an unfinished upload was left behind"
    again = await http.post(f"/api/v1/exports/{export['id']}/cancel")
    assert again.status_code == 409


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[ObjectStore]:
    async with ObjectStore.open(settings) as opened:
        yield opened


def _export_worker(client: Client, queue: str, store: ObjectStore, sessions: SessionFactory) -> Worker:
    """A worker of its own (exports only) that stops at once when shut down, as a killed one."""
    return Worker(
        client,
        task_queue=queue,
        workflows=[ExportWorkflow],
        activities=registry.export_activities(
            ExportActivities(store, sessions), HousekeepingActivities(store, sessions)
        ),
        graceful_shutdown_timeout=timedelta(0),
        max_heartbeat_throttle_interval=timedelta(milliseconds=100),
    )


async def test_a_worker_stopped_during_a_large_zip_is_resumed_by_the_next_into_a_valid_archive(
    http: httpx.AsyncClient, settings: Settings, sessions: SessionFactory, temporal: Client, store: ObjectStore
) -> None:
    project_id = await create_project(http)
    ids = await _big_uploads(settings, sessions, project_id, 24)
    export_id = str(uuid.uuid4())
    inp = ExportInput(
        export_id=export_id, project_id=project_id, owner_id=str(uuid.uuid4()), format="zip", asset_ids=ids
    )
    async with sessions() as session:
        await insert_export_if_absent(session, inp)
        await session.commit()
    queue = f"exports-{uuid.uuid4()}"
    handle = await temporal.start_workflow(ExportWorkflow.run, inp, id=f"export-{export_id}", task_queue=queue)

    first = _export_worker(temporal, queue, store, sessions)
    running = asyncio.create_task(first.run())
    checkpoint = None
    deadline = time.monotonic() + 60
    while checkpoint is None or checkpoint.resume_at < 3:
        assert time.monotonic() < deadline, "no checkpoint reached the server"
        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING, "the export finished before the worker was stopped"
        for pending in desc.raw_description.pending_activities:
            if pending.heartbeat_details.payloads:
                [details] = await temporal.data_converter.decode(pending.heartbeat_details.payloads, [ZipCheckpoint])
                checkpoint = details
        await asyncio.sleep(0.02)
    await first.shutdown()  # in-flight work stops now; nothing is cleaned up on a shutdown
    await running
    assert checkpoint.resume_at < 24

    second = _export_worker(temporal, queue, store, sessions)
    async with second:
        result = await handle.result()
    assert isinstance(result, ExportFile)
    assert result.resumed_at_image >= 3, "the second attempt started over from zero"

    data = await store.get(result.key)
    assert len(data) == result.size and hashlib.sha256(data).hexdigest() == result.sha256
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    names = archive.namelist()
    assert len(names) == len(set(names)) == 24 + 2, "duplicate or missing members"
    manifest = json.loads(archive.read("manifest.json"))
    for record in manifest["images"]:
        assert hashlib.sha256(archive.read(record["file"])).hexdigest() == record["sha256"]
    assert [r["asset_id"] for r in manifest["images"]] == ids
    exported = (await http.get(f"/api/v1/exports/{export_id}")).json()
    assert exported["status"] == "succeeded" and exported["sha256"] == result.sha256


async def test_studio_export_downloads_the_zip_a_user_asked_for(
    api_server: Any, sessions: SessionFactory, tmp_path: Any, token: str
) -> None:
    from db.users import create_user
    from tests.test_cli_client import studio

    async with sessions() as session:
        _, key = await create_user(session, f"cli-export-{token}")
        await session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api_server.base_url, headers=headers, timeout=30) as http:
        project_id = await create_project(http, name=f"album-{token}")
        assets = await rendered(http, project_id, name="Album", prompt=f"an album cover {token}", n=2)
        target = tmp_path / "album.zip"
        run = await studio(
            "export",
            f"album-{token}",
            "--format",
            "zip",
            "--out",
            str(target),
            key=key,
            api_url=api_server.base_url,
            cwd=tmp_path,
        )
        assert run.code == 0, run.stderr
        assert run.stdout.strip() == str(target)
        archive = zipfile.ZipFile(target)
        # No selection: every asset, newest first.
        digests = {hashlib.sha256(archive.read(n)).hexdigest() for n in archive.namelist() if n.startswith("images/")}
        assert digests == {a["sha256"] for a in assets}
        listed = (await http.get(f"/api/v1/projects/{project_id}/exports")).json()["items"]
        assert listed[0]["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()

        missing = await studio(
            "export",
            f"nothing-{token}",
            "--out",
            str(tmp_path / "x.zip"),
            key=key,
            api_url=api_server.base_url,
            cwd=tmp_path,
        )
        assert missing.code == 1 and "not_found" in missing.stderr


async def test_an_image_missing_from_storage_fails_the_export_with_its_code_and_leaves_no_object(
    http: httpx.AsyncClient, settings: Settings, store: ObjectStore, temporal: Client, token: str
) -> None:
    project_id = await create_project(http)
    assets = await rendered(http, project_id, prompt=f"a vanishing act {token}", n=2)
    await store.delete(assets[1]["file_key"])  # gone behind the service's back
    export = await wait_for_export(
        http, (await start_export(http, project_id, format="zip", asset_ids=[a["id"] for a in assets]))["id"]
    )
    assert export["status"] == "failed" and export["url"] is None
    assert export["error"]["code"] == "export_source_missing" and assets[1]["file_key"] in export["error"]["message"]
    key = export_key(project_id, export["id"], "zip")
    assert await store.head(key) is None
    assert await store.abort_multipart_uploads(key) == 0

    # Temporal's retention drops the workflow: the row still says failed, with the error.
    await forget_workflow(temporal, export["workflow_id"])
    later = (await http.get(f"/api/v1/exports/{export['id']}")).json()
    assert later["status"] == "failed" and later["error"] == export["error"], later


async def test_a_finished_export_stays_downloadable_after_temporal_forgets_its_workflow(
    http: httpx.AsyncClient, temporal: Client, token: str
) -> None:
    """Temporal's retention is shorter than an export's: once its file is recorded, the export
    reads `succeeded` from its row, with its link, even when its workflow history is gone."""
    project_id = await create_project(http)
    await rendered(http, project_id, prompt=f"kept {token}")
    export = await wait_for_export(http, (await start_export(http, project_id, format="zip"))["id"])
    assert export["status"] == "succeeded", export

    await forget_workflow(temporal, export["workflow_id"])

    later = (await http.get(f"/api/v1/exports/{export['id']}")).json()
    assert later["status"] == "succeeded" and later["sha256"] == export["sha256"]
    assert hashlib.sha256(await download(later["url"])).hexdigest() == export["sha256"]


# One image of 1280x720 at 60 fps for 15 s: its 900 frames are one encode step (`close`) of
# several seconds (about 9 s on the 2-core CI runner), far longer than the 1 s heartbeat
# timeout the test gives the build.
LONG_STEP_OPTIONS = ExportOptions(width=1280, height=720, fps=60, seconds_per_image=15)
SHORT_HEARTBEAT_S = 1.0


async def test_an_mp4_whose_one_image_encodes_longer_than_the_heartbeat_timeout_succeeds_at_the_first_attempt(
    http: httpx.AsyncClient, temporal: Client, store: ObjectStore, sessions: SessionFactory, token: str
) -> None:
    project_id = await create_project(http)
    assets = await rendered(http, project_id, prompt=f"a slow sunset {token}", n=1)
    export_id = str(uuid.uuid4())
    inp = ExportInput(
        export_id=export_id,
        project_id=project_id,
        owner_id=str(uuid.uuid4()),
        format="mp4",
        asset_ids=[assets[0]["id"]],
        options=LONG_STEP_OPTIONS,
        build_heartbeat_timeout_s=SHORT_HEARTBEAT_S,
    )
    queue = f"exports-{uuid.uuid4()}"
    handle = await temporal.start_workflow(ExportWorkflow.run, inp, id=f"export-{export_id}", task_queue=queue)
    async with _export_worker(temporal, queue, store, sessions):
        result = await asyncio.wait_for(handle.result(), timeout=300)
    assert isinstance(result, ExportFile) and result.images == 1

    started = completed = None
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and started is None:
            started = event  # the build's (the first activity)
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED and completed is None:
            completed = event
        assert event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT
    assert started is not None and completed is not None
    assert started.activity_task_started_event_attributes.attempt == 1, "the build was retried"
    took_s = (completed.event_time.ToDatetime() - started.event_time.ToDatetime()).total_seconds()
    # The test exercises what it says only if the build outlasted the timeout several times.
    assert took_s > 3 * SHORT_HEARTBEAT_S, f"the encode took only {took_s:.1f} s"

    data = await store.get(result.key)
    assert hashlib.sha256(data).hexdigest() == result.sha256
    with av.open(io.BytesIO(data), mode="r") as container:
        assert container.streams.video[0].frames == 900


async def test_an_mp4_over_the_encoding_budget_is_refused_with_422(http: httpx.AsyncClient, token: str) -> None:
    project_id = await create_project(http)
    assets = await rendered(http, project_id, prompt=f"a long film {token}", n=1)
    # 3840 x 2160 x 60 fps x 30 s: 1.49e10 pixel-frames for one image, over the 1.2e10 budget.
    options = {"width": 3840, "height": 2160, "fps": 60, "seconds_per_image": 30, "crossfade_s": 10}
    assert MP4_MAX_PIXEL_FRAMES < 3840 * 2160 * 60 * 30
    url = f"/api/v1/projects/{project_id}/exports"
    refused = await http.post(url, json={"format": "mp4", "asset_ids": [assets[0]["id"]], "options": options})
    assert refused.status_code == 422, refused.text
    assert "pixel-frames" in refused.json()["error"]["message"]
    assert (await http.get(f"/api/v1/projects/{project_id}/exports")).json()["items"] == []


async def test_a_canceled_mp4_still_reads_canceled_after_temporal_forgets_it(
    http: httpx.AsyncClient, temporal: Client, store: ObjectStore, token: str
) -> None:
    """Canceled in the middle of a long encode step: the step stops, nothing is left in S3, and
    the row says canceled once the workflow is gone."""
    project_id = await create_project(http)
    assets = await rendered(http, project_id, prompt=f"an interrupted film {token}", n=1)
    created = await start_export(
        http, project_id, format="mp4", asset_ids=[assets[0]["id"]], options=LONG_STEP_OPTIONS.model_dump()
    )
    deadline = time.monotonic() + 60
    while (current := (await http.get(f"/api/v1/exports/{created['id']}")).json())["status"] != "running":
        assert current["status"] == "queued", current
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)  # inside the encode
    canceled = await http.post(f"/api/v1/exports/{created['id']}/cancel")
    assert canceled.status_code == 202, canceled.text
    final = await wait_for_export(http, created["id"])
    assert final["status"] == "canceled" and final["url"] is None, final
    key = export_key(project_id, created["id"], "mp4")
    assert await store.head(key) is None

    await forget_workflow(temporal, final["workflow_id"])
    later = (await http.get(f"/api/v1/exports/{created['id']}")).json()
    assert later["status"] == "canceled", later
    assert later["error"] == {"code": "canceled", "message": "the export was canceled"}


async def test_a_contact_sheet_uses_the_original_when_a_thumbnail_object_is_missing(
    http: httpx.AsyncClient, store: ObjectStore, token: str
) -> None:
    project_id = await create_project(http)
    assets = await rendered(http, project_id, prompt=f"a lost thumbnail {token}", n=2)
    assert all(a["thumbnail_url"] for a in assets)
    lost = thumbnail_key(assets[0]["file_key"])
    assert await store.head(lost) is not None
    await store.delete(lost)
    ids = [a["id"] for a in assets]
    export = await wait_for_export(
        http,
        (await start_export(http, project_id, format="contact_sheet", asset_ids=ids, options={"thumb_px": 128}))["id"],
    )
    assert export["status"] == "succeeded", export
    sheet = Image.open(io.BytesIO(await download(export["url"]))).convert("RGB")
    cell_w = 128 + 16
    for column in range(2):  # both cells hold an image (the first from its original)
        assert sheet.getpixel((column * cell_w + cell_w // 2, 8 + 64)) != (255, 255, 255)
