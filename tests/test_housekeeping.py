"""Housekeeping on Temporal Schedules (issue 13), through the real stack: each job removes what
it should and nothing else, a dry run removes nothing, and the schedules are created
idempotently and run the workflow when triggered.

The jobs are run as the schedules run them (a `HousekeepingWorkflow` on the session's worker),
with the thresholds in the workflow's argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment

from activities.housekeeping import UPLOADS_PER_BATCH, HousekeepingActivities
from clients.object_store import ObjectStore
from clients.settings import Settings
from db.models import Export, Project, Task, Upload
from db.session import SessionFactory
from kernel.contract import housekeeping_schedule_id
from kernel.exports import HousekeepingInput, HousekeepingReport
from kernel.object_keys import staging_key, thumbnail_key, upload_key
from studio.housekeeping_schedules import JOBS, ensure_housekeeping_schedules
from tests.helpers import create_project, create_task, start_render_workflow, wait_for_task
from tests.test_exports import download, rendered, start_export, wait_for_export
from tests.test_uploads import _image, _put, _start
from workflows.housekeeping import HousekeepingWorkflow


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[ObjectStore]:
    async with ObjectStore.open(settings) as opened:
        yield opened


async def run_job(temporal: Client, settings: Settings, **fields: Any) -> HousekeepingReport:
    """One housekeeping run on the session's worker, as a schedule starts it."""
    return await temporal.execute_workflow(
        HousekeepingWorkflow.run,
        HousekeepingInput(**fields),
        id=f"housekeeping-test-{uuid.uuid4()}",
        task_queue=settings.temporal_task_queue,
    )


async def test_expire_exports_removes_files_past_retention_and_keeps_recent_ones(
    http: httpx.AsyncClient,
    temporal: Client,
    settings: Settings,
    sessions: SessionFactory,
    store: ObjectStore,
    token: str,
) -> None:
    project_id = await create_project(http)
    assets = await rendered(http, project_id, prompt=f"a quiet bay {token}", n=1)
    old, recent = [
        await wait_for_export(
            http, (await start_export(http, project_id, format="zip", asset_ids=[assets[0]["id"]]))["id"]
        )
        for _ in range(2)
    ]
    async with sessions() as session:
        await session.execute(
            update(Export)
            .where(Export.id == uuid.UUID(old["id"]))
            .values(completed_at=datetime.now(UTC) - timedelta(days=8))
        )
        await session.commit()
    old_key = f"exports/{project_id}/{old['id']}.zip"
    recent_key = f"exports/{project_id}/{recent['id']}.zip"

    dry = await run_job(temporal, settings, job="expire_exports", dry_run=True, export_retention_days=7)
    assert dry.dry_run and dry.removed == 1 and dry.examples == [f"{old['id']} {old_key}"]
    assert await store.head(old_key) is not None, "a dry run removed the file"

    report = await run_job(temporal, settings, job="expire_exports", export_retention_days=7)
    assert report.removed == 1 and report.examples == [f"{old['id']} {old_key}"]
    assert await store.head(old_key) is None
    assert await store.head(recent_key) is not None
    gone = (await http.get(f"/api/v1/exports/{old['id']}")).json()
    assert gone["status"] == "expired" and gone["url"] is None and gone["expired_at"]
    kept = (await http.get(f"/api/v1/exports/{recent['id']}")).json()
    assert kept["status"] == "succeeded" and len(await download(kept["url"])) == kept["size"]

    again = await run_job(temporal, settings, job="expire_exports", export_retention_days=7)
    assert again.removed == 0


async def test_expired_idempotency_keys_make_a_new_task_and_recent_keys_still_answer(
    http: httpx.AsyncClient, temporal: Client, settings: Settings, sessions: SessionFactory, token: str
) -> None:
    project_id = await create_project(http)
    body = {"name": "keyed", "prompt": f"a red kite {token}"}
    url = f"/api/v1/projects/{project_id}/tasks"
    old = await http.post(url, json=body, headers={"Idempotency-Key": f"old-{token}"})
    recent = await http.post(url, json=body, headers={"Idempotency-Key": f"recent-{token}"})
    assert (old.status_code, recent.status_code) == (202, 202)
    for created in (old, recent):
        await wait_for_task(http, created.json()["id"])
    async with sessions() as session:
        await session.execute(
            update(Task)
            .where(Task.id == uuid.UUID(old.json()["id"]))
            .values(created_at=datetime.now(UTC) - timedelta(days=31))
        )
        await session.commit()

    dry = await run_job(temporal, settings, job="expire_idempotency_keys", dry_run=True, idempotency_key_ttl_days=30)
    assert f"tasks/{old.json()['id']}" in dry.examples
    assert (await http.post(url, json=body, headers={"Idempotency-Key": f"old-{token}"})).status_code == 200

    report = await run_job(temporal, settings, job="expire_idempotency_keys", idempotency_key_ttl_days=30)
    assert f"tasks/{old.json()['id']}" in report.examples
    assert f"tasks/{recent.json()['id']}" not in report.examples

    retried_old = await http.post(url, json=body, headers={"Idempotency-Key": f"old-{token}"})
    assert retried_old.status_code == 202, "a POST with an expired key is a new task"
    assert retried_old.json()["id"] != old.json()["id"]
    again = await http.post(url, json=body, headers={"Idempotency-Key": f"old-{token}"})
    assert (again.status_code, again.json()["id"]) == (200, retried_old.json()["id"])
    retried_recent = await http.post(url, json=body, headers={"Idempotency-Key": f"recent-{token}"})
    assert (retried_recent.status_code, retried_recent.json()["id"]) == (200, recent.json()["id"])
    old_task = (await http.get(f"/api/v1/tasks/{old.json()['id']}")).json()
    assert old_task["status"] == "succeeded", "the old task itself is untouched"
    await wait_for_task(http, retried_old.json()["id"])


async def test_sweep_removes_staged_objects_without_a_running_workflow_and_keeps_live_ones(
    http: httpx.AsyncClient, temporal: Client, settings: Settings, store: ObjectStore, token: str
) -> None:
    project_id = await create_project(http)
    finished = await wait_for_task(http, (await create_task(http, project_id, prompt=f"a finished fox {token}"))["id"])
    published = (await http.get(f"/api/v1/projects/{project_id}/rendered-assets")).json()["items"][0]
    # A task whose workflow waits on a queue no worker polls: running, its staging is live.
    live_id, live = await start_render_workflow(temporal, f"nobody-{uuid.uuid4()}", project_id, f"a live owl {token}")
    orphan_id = str(uuid.uuid4())  # a task that never had a workflow (an API that died)
    staged = {
        "orphan": staging_key(project_id, orphan_id, 0),
        "orphan_thumb": thumbnail_key(staging_key(project_id, orphan_id, 0)),
        "finished": staging_key(project_id, finished["id"], 1),
        "live": staging_key(project_id, live_id, 0),
        "live_thumb": thumbnail_key(staging_key(project_id, live_id, 0)),
    }
    for key in staged.values():
        await store.put(key, b"staged bytes", "image/png", {})
    try:
        young = await run_job(temporal, settings, job="sweep_staging", staging_min_age_s=3600)
        assert not set(staged.values()) & set(young.examples), "objects younger than the minimum age were swept"

        dry = await run_job(temporal, settings, job="sweep_staging", staging_min_age_s=0, dry_run=True)
        assert dry.dry_run and dry.removed >= 3
        assert all([await store.head(key) is not None for key in staged.values()]), "a dry run removed objects"

        report = await run_job(temporal, settings, job="sweep_staging", staging_min_age_s=0)
        assert report.removed == dry.removed >= 3
        assert staged["live"] not in report.examples and staged["live_thumb"] not in report.examples
        for name in ("orphan", "orphan_thumb", "finished"):
            assert await store.head(staged[name]) is None, name
        for name in ("live", "live_thumb"):
            assert await store.head(staged[name]) is not None, f"a running task's {name} object was swept"
        assert await store.head(published["file_key"]) is not None, "a published image was touched"
    finally:
        await live.terminate("test over")


async def test_sweep_staging_reads_the_listing_page_by_page_and_stops_at_its_cap(
    http: httpx.AsyncClient,
    temporal: Client,
    settings: Settings,
    sessions: SessionFactory,
    store: ObjectStore,
    token: str,
) -> None:
    """More staged objects than a list page (pages of 7 keys here, 1000 in production) and than
    one run's cap (25 keys here): a run examines its cap page by page and stops; the runs that
    follow continue until every object of a task without a running workflow is gone, a
    running task's objects kept. The sweep runs on the real S3 and Temporal, outside a worker
    so that the page size and cap can be small."""
    project_id = await create_project(http)
    live_id, live = await start_render_workflow(temporal, f"nobody-{uuid.uuid4()}", project_id, f"a live heron {token}")
    orphans = [
        key
        for task_id in [str(uuid.uuid4()) for _ in range(20)]
        for key in (staging_key(project_id, task_id, 0), thumbnail_key(staging_key(project_id, task_id, 0)))
    ]
    kept = [
        key
        for i in range(2)
        for key in (staging_key(project_id, live_id, i), thumbnail_key(staging_key(project_id, live_id, i)))
    ]
    await asyncio.gather(*(store.put(key, b"staged", "image/png", {}) for key in orphans + kept))
    sweeper = HousekeepingActivities(store, sessions, staging_page_keys=7, staging_keys_per_run=25)
    heartbeats: list[int] = []
    env = ActivityEnvironment(client=temporal)
    env.on_heartbeat = lambda *details: heartbeats.append(details[0])
    sweep = HousekeepingInput(job="sweep_staging", staging_min_age_s=0)
    try:
        dry = await env.run(sweeper.sweep_staged_objects, sweep.model_copy(update={"dry_run": True}))
        assert heartbeats == [7, 14, 21, 25], "not read in pages of 7 up to the cap of 25 keys"
        assert dry.dry_run and 0 < dry.removed <= 25
        assert all([await store.head(key) is not None for key in orphans]), "a dry run removed objects"

        removed: list[str] = []
        for _ in range(40):  # other tests' stale staging is swept too: a run at a time
            heartbeats.clear()
            report = await env.run(sweeper.sweep_staged_objects, sweep)
            assert report.removed <= 25 and max(heartbeats, default=0) <= 25
            removed += report.examples
            if report.removed == 0:
                break
        assert set(orphans) <= set(removed)
        assert not set(kept) & set(removed)
        assert [key for key in orphans if await store.head(key) is not None] == [], "staged objects left"
        for key in kept:
            assert await store.head(key) is not None, f"a running task's {key} was swept"
    finally:
        await live.terminate("test over")


async def _age_uploads(sessions: SessionFactory, upload_ids: list[str], *, url_expired: bool = True) -> None:
    """Make uploads two days old (their PUT URL expired too, unless `url_expired` is False)."""
    past = datetime.now(UTC) - timedelta(days=2)
    expires = past if url_expired else datetime.now(UTC) + timedelta(days=1)
    async with sessions() as session:
        await session.execute(
            update(Upload)
            .where(Upload.id.in_([uuid.UUID(u) for u in upload_ids]))
            .values(created_at=past, expires_at=expires)
        )
        await session.commit()


async def _upload_ids_left(sessions: SessionFactory, upload_ids: list[str]) -> set[str]:
    async with sessions() as session:
        rows = await session.execute(select(Upload.id).where(Upload.id.in_([uuid.UUID(u) for u in upload_ids])))
    return {str(row) for row in rows.scalars()}


async def test_sweep_uploads_removes_abandoned_uploads_and_keeps_recent_and_completed_ones(
    http: httpx.AsyncClient, temporal: Client, settings: Settings, sessions: SessionFactory, store: ObjectStore
) -> None:
    project_id = await create_project(http)
    data = _image("PNG", (64, 48))
    started: dict[str, dict[str, Any]] = {}
    for name in ("abandoned_put", "abandoned_empty", "url_still_valid", "recent", "completed"):
        response = await _start(http, project_id, "image/png", len(data))
        assert response.status_code == 201, response.text
        started[name] = response.json()
    for name in ("abandoned_put", "url_still_valid", "recent", "completed"):
        await _put(started[name], data)
    completed = await http.post(f"/api/v1/uploads/{started['completed']['id']}/complete")
    assert completed.status_code == 201, completed.text
    asset = completed.json()
    ids = {name: upload["id"] for name, upload in started.items()}
    keys = {name: upload_key(project_id, upload_id, "image/png") for name, upload_id in ids.items()}
    await _age_uploads(sessions, [ids["abandoned_put"], ids["abandoned_empty"], ids["completed"]])
    # Old, but its PUT URL still works (UPLOAD_URL_TTL_S longer than the age): a PUT could follow.
    await _age_uploads(sessions, [ids["url_still_valid"]], url_expired=False)
    abandoned = {f"{ids[name]} {keys[name]}" for name in ("abandoned_put", "abandoned_empty")}

    dry = await run_job(temporal, settings, job="sweep_uploads", dry_run=True, upload_abandon_after_s=86400)
    assert dry.dry_run and dry.removed == 2 and set(dry.examples) == abandoned
    assert await _upload_ids_left(sessions, list(ids.values())) == set(ids.values()), "a dry run deleted rows"
    assert await store.head(keys["abandoned_put"]) is not None, "a dry run deleted an object"

    report = await run_job(temporal, settings, job="sweep_uploads", upload_abandon_after_s=86400)
    assert not report.dry_run and report.removed == 2 and set(report.examples) == abandoned
    kept = {ids[name] for name in ("url_still_valid", "recent", "completed")}
    assert await _upload_ids_left(sessions, list(ids.values())) == kept
    assert await store.head(keys["abandoned_put"]) is None, "the abandoned upload's object is still there"
    for name in ("url_still_valid", "recent"):
        assert await store.head(keys[name]) is not None, f"the {name} upload's object was deleted"
    gone = await http.post(f"/api/v1/uploads/{ids['abandoned_put']}/complete")
    assert gone.status_code == 404, gone.text
    # The completed upload and its asset are untouched: the asset reads back, image and all,
    # and completing again still answers the same asset.
    read = await http.get(f"/api/v1/rendered-assets/{asset['id']}")
    assert read.status_code == 200 and await download(read.json()["url"]) == data
    again = await http.post(f"/api/v1/uploads/{ids['completed']}/complete")
    assert (again.status_code, again.json()["id"]) == (200, asset["id"])
    # The recent one still completes into an asset.
    late = await http.post(f"/api/v1/uploads/{ids['recent']}/complete")
    assert late.status_code == 201, late.text

    assert (await run_job(temporal, settings, job="sweep_uploads", upload_abandon_after_s=86400)).removed == 0


async def test_sweep_uploads_walks_every_batch(
    http: httpx.AsyncClient, temporal: Client, settings: Settings, sessions: SessionFactory
) -> None:
    """More abandoned uploads than one batch (written straight to the table, never PUT): a dry
    run counts them all without deleting, a run deletes them all, batch after batch."""
    project_id = uuid.UUID(await create_project(http))
    past = datetime.now(UTC) - timedelta(days=2)
    ids = [uuid.uuid4() for _ in range(2 * UPLOADS_PER_BATCH + 7)]
    async with sessions() as session:
        owner_id = (await session.execute(select(Project.owner_id).where(Project.id == project_id))).scalar_one()
        session.add_all(
            Upload(
                id=upload_id,
                project_id=project_id,
                owner_id=owner_id,
                filename="never.png",
                file_key=upload_key(str(project_id), str(upload_id), "image/png"),
                content_type="image/png",
                byte_size=1000,
                expires_at=past,
                created_at=past + timedelta(seconds=i // 3),  # ties on created_at across batches
            )
            for i, upload_id in enumerate(ids)
        )
        await session.commit()
    names = [str(u) for u in ids]

    dry = await run_job(temporal, settings, job="sweep_uploads", dry_run=True, upload_abandon_after_s=86400)
    assert dry.removed == len(ids)
    assert await _upload_ids_left(sessions, names) == set(names)

    report = await run_job(temporal, settings, job="sweep_uploads", upload_abandon_after_s=86400)
    assert report.removed == len(ids)
    assert await _upload_ids_left(sessions, names) == set()


async def test_schedules_are_created_once_updated_after_and_run_when_triggered(
    http: httpx.AsyncClient, temporal: Client, settings: Settings
) -> None:
    dry = settings.model_copy(update={"housekeeping_dry_run": True, "housekeeping_interval_s": 7200})
    for job in JOBS:  # the schedules are per namespace: other tests' workers (`studio worker`) made them
        with contextlib.suppress(RPCError):
            await temporal.get_schedule_handle(housekeeping_schedule_id(job)).delete()
    try:
        assert set((await ensure_housekeeping_schedules(temporal, dry)).values()) == {"created"}
        await temporal.get_schedule_handle(housekeeping_schedule_id("expire_exports")).pause(note="operator")
        assert set((await ensure_housekeeping_schedules(temporal, dry)).values()) == {"updated"}
        paused = await temporal.get_schedule_handle(housekeeping_schedule_id("expire_exports")).describe()
        assert paused.schedule.state.paused, "a worker start unpaused an operator's pause"
        for job in JOBS:
            desc = await temporal.get_schedule_handle(housekeeping_schedule_id(job)).describe()
            assert desc.schedule.spec.intervals[0].every == timedelta(hours=2)
            [argument] = await temporal.data_converter.decode(desc.schedule.action.args, [HousekeepingInput])  # type: ignore[attr-defined]
            assert argument.job == job and argument.dry_run is True

        handle = temporal.get_schedule_handle(housekeeping_schedule_id("sweep_staging"))
        await handle.trigger()
        for _ in range(100):
            actions = (await handle.describe()).info.recent_actions
            if actions:
                break
            await asyncio.sleep(0.1)
        action = actions[0].action
        assert isinstance(action, ScheduleActionExecutionStartWorkflow)
        report = await temporal.get_workflow_handle(action.workflow_id, result_type=HousekeepingReport).result()
        assert report.job == "sweep_staging" and report.dry_run is True
    finally:
        for job in JOBS:
            await temporal.get_schedule_handle(housekeeping_schedule_id(job)).delete()
