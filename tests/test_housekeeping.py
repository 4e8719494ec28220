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
from sqlalchemy import update
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.service import RPCError

from clients.object_store import ObjectStore
from clients.settings import Settings
from db.models import Export, Task
from db.session import SessionFactory
from kernel.contract import housekeeping_schedule_id
from kernel.exports import HousekeepingInput, HousekeepingReport
from kernel.object_keys import staging_key, thumbnail_key
from studio.housekeeping_schedules import JOBS, ensure_housekeeping_schedules
from tests.helpers import create_project, create_task, start_render_workflow, wait_for_task
from tests.test_exports import download, rendered, start_export, wait_for_export
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
