"""The local stack keeps its images across a restart (`make dev` stopped and started again).

A stack of its own on a tmp state dir (not the session's): render a task through the real API
and worker, stop everything, start a new stack on the same state dir (new ports, new processes),
and download the same bytes through a fresh presigned URL from a new API.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from pathlib import Path

import httpx
import pytest

from clients.object_store import ObjectStore
from clients.settings import Settings
from clients.temporal_client import connect
from db.session import create_engine, create_session_factory
from db.users import create_user
from studio.localstack import LocalStack
from studio.worker import render_worker
from tests.helpers import create_project, create_task, serve_api, wait_for_task


def _settings(stack: LocalStack) -> Settings:
    assert stack.endpoints is not None
    base = Settings(
        _env_file=None,
        gemini_api_key=None,
        gemini_base_url=None,
        temporal_task_queue=f"render-tasks-{uuid.uuid4()}",
        gemini_images_per_minute=60_000,
    )
    return stack.endpoints.apply(base)


async def _start(state_dir: Path) -> LocalStack:
    base = Settings(_env_file=None, gemini_api_key=None, gemini_base_url=None)
    stack = LocalStack(state_dir, base, ephemeral_ports=True, with_emulator=True)
    await asyncio.to_thread(stack.start)  # blocking: keep the session's event loop free
    return stack


async def _new_api_key(settings: Settings) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            _, key = await create_user(session, f"user-{uuid.uuid4().hex[:8]}")
            await session.commit()
    finally:
        await engine.dispose()
    return key


@pytest.mark.timeout(300)
async def test_rendered_images_survive_a_stack_restart(tmp_path: Path) -> None:
    state_dir = tmp_path / "studio"
    stack = await _start(state_dir)
    try:
        settings = _settings(stack)
        key = await _new_api_key(settings)
        headers = {"Authorization": f"Bearer {key}"}
        temporal = await connect(settings)
        async with render_worker(temporal, settings) as worker:
            run = asyncio.create_task(worker.run())
            try:
                async with (
                    serve_api(settings) as api,
                    httpx.AsyncClient(base_url=api.base_url, headers=headers, timeout=30) as http,
                ):
                    project_id = await create_project(http, "persist")
                    created = await create_task(
                        http, project_id, prompt="a harbour at dawn", n=2, aspect_ratio="4:3", image_size="1K"
                    )
                    task = await wait_for_task(http, created["id"])
                    assert task["status"] == "succeeded", task
                    listed = await http.get(
                        f"/api/v1/projects/{project_id}/rendered-assets", params={"task_id": created["id"]}
                    )
                    before = {a["id"]: a for a in listed.json()["items"]}
                    assert len(before) == 2
                    for asset in before.values():
                        first = await http.get(asset["url"])
                        assert first.status_code == 200
                        assert hashlib.sha256(first.content).hexdigest() == asset["sha256"]
            finally:
                await worker.shutdown()
                with contextlib.suppress(asyncio.CancelledError):
                    await run
    finally:
        await asyncio.to_thread(stack.stop)

    # The objects live on disk under the state dir, not in a process's memory.
    volumes = sum(p.stat().st_size for p in (state_dir / "s3").rglob("*.dat"))
    assert volumes >= sum(a["byte_size"] for a in before.values())

    stack = await _start(state_dir)  # new processes, new ports, the same state dir
    try:
        settings = _settings(stack)
        async with (
            serve_api(settings) as api,
            httpx.AsyncClient(base_url=api.base_url, headers=headers, timeout=30) as http,
        ):
            for asset_id, asset in before.items():
                fresh = await http.get(f"/api/v1/rendered-assets/{asset_id}")
                assert fresh.status_code == 200, fresh.text
                url = fresh.json()["url"]
                assert url != asset["url"]  # signed anew, for the new endpoint
                download = await http.get(url)
                assert download.status_code == 200, download.text
                assert hashlib.sha256(download.content).hexdigest() == asset["sha256"]
                assert len(download.content) == asset["byte_size"]
        # The bucket's listing survived too (ListObjectsV2 on the task's prefix).
        async with ObjectStore.open(settings) as store:
            keys = await store.list_keys(f"projects/{project_id}/tasks/{task['id']}/")
        assert {a["file_key"] for a in before.values()} <= set(keys)
    finally:
        await asyncio.to_thread(stack.stop)
