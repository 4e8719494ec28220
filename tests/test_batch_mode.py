"""Batch mode (issue 12) through the real stack: API -> RenderTaskWorkflow -> collector ->
GeminiBatchJobWorkflow -> the emulator's Batch API -> S3 -> Postgres.

This module runs its own worker and API on a task queue of its own, with a short gather time
and fast polling (BATCH_GATHER_S=4, BATCH_POLL_*=0.5..1 s), so it can stop and restart the
worker mid-job; its collector continues as new after every second job. Each test scripts its
jobs' turnaround in the emulator by a unique token.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment

from activities.gemini import build_gemini_client
from activities.gemini_batch import BatchActivities
from clients.object_store import ObjectStore
from clients.settings import Settings
from db.session import SessionFactory
from gemini_emulator import EmulatorServer
from gemini_emulator.quota import key_fingerprint
from kernel.batch_payloads import BatchItem, SubmitBatchInput
from kernel.catalog import image_price_micro_usd
from kernel.payloads import PromptPlan
from studio.replay import fetch_history, replay_history
from studio.worker import WorkerGroup, render_worker
from tests.helpers import (
    ApiServer,
    assert_replays,
    client_as_new_user,
    create_project,
    create_task,
    serve_api,
    wait_for_task,
)
from workflows.batch_collector import take_job

EMULATOR_KEY = key_fingerprint("emulator")  # the key the worker's client sends with no GEMINI_API_KEY


class WorkerRunner:
    """The batch module's worker, which a test may stop and start again."""

    def __init__(self, temporal: Client, settings: Settings) -> None:
        self._temporal, self._settings = temporal, settings
        self._stack: contextlib.AsyncExitStack | None = None
        self._group: WorkerGroup | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, **changes: Any) -> None:
        """Start a worker with the module's settings, plus `changes` (Settings fields)."""
        settings = self._settings.model_copy(update=changes)
        self._stack = contextlib.AsyncExitStack()
        self._group = await self._stack.enter_async_context(render_worker(self._temporal, settings))
        self._task = asyncio.create_task(self._group.run())

    @contextlib.asynccontextmanager
    async def changed(self, **changes: Any) -> AsyncIterator[None]:
        """Run the block on a worker restarted with `changes`, then restart the module's worker."""
        await self.stop()
        await self.start(**changes)
        try:
            yield
        finally:
            await self.stop()
            await self.start()

    async def stop(self) -> None:
        assert self._group is not None and self._task is not None and self._stack is not None
        await self._group.shutdown()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._stack.aclose()
        self._group = self._task = self._stack = None


@pytest.fixture(scope="module")
def batch_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "temporal_task_queue": f"batch-tasks-{uuid.uuid4()}",
            "batch_gather_s": 4.0,
            "batch_max_items": 100,
            "batch_poll_initial_s": 0.5,
            "batch_poll_max_s": 1.0,
            "batch_collector_jobs_per_run": 2,  # the collector continues as new every other test
        }
    )


@pytest.fixture(scope="module")
async def batch_worker(temporal: Client, batch_settings: Settings) -> AsyncIterator[WorkerRunner]:
    runner = WorkerRunner(temporal, batch_settings)
    await runner.start()
    yield runner
    with contextlib.suppress(AssertionError):
        await runner.stop()


@pytest.fixture(scope="module")
async def batch_api(batch_settings: Settings, batch_worker: WorkerRunner) -> AsyncIterator[ApiServer]:
    async with serve_api(batch_settings) as server:
        yield server


@pytest.fixture
async def client(batch_api: ApiServer, sessions: SessionFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with client_as_new_user(batch_api.base_url, sessions) as http:
        yield http


def _jobs_of(emulator: EmulatorServer, token: str) -> list[Any]:
    """The emulator's batch jobs holding a request with `token` in its prompt."""
    return [
        job for job in emulator.batches.list(EMULATOR_KEY) if any(token in item.request.prompt for item in job.items)
    ]


async def _wait_for_batch_job(http: httpx.AsyncClient, task_id: str, timeout_s: float = 30) -> dict[str, Any]:
    """Poll GET /tasks/{id} until the task shows the Gemini job it waits on."""
    deadline = time.monotonic() + timeout_s
    while True:
        task = (await http.get(f"/api/v1/tasks/{task_id}")).json()
        if task["stage"] == "waiting_for_batch" and task["variations"] and task["variations"][0]["batch_job"]:
            return dict(task)
        assert time.monotonic() < deadline, f"no batch job shown: {task}"
        await asyncio.sleep(0.2)


async def test_a_retried_submit_finds_its_job_instead_of_paying_twice(
    batch_settings: Settings, emulator: EmulatorServer, token: str
) -> None:
    """`submit_batch_job` run again for one job workflow (a second attempt, the first one's
    answer and heartbeat lost): one Gemini job, found again by its display name."""
    emulator.batch_script(token, turnaround_s=60)
    items = [_item(f"task-{token}", i, f"twice {token}") for i in range(2)]
    submit = SubmitBatchInput(display_name=f"gemini-batch-test-{token}", model=items[0].plan.model, items=items)
    async with ObjectStore.open(batch_settings) as store:
        batch = BatchActivities(build_gemini_client(batch_settings), store, batch_settings)
        first = await ActivityEnvironment().run(batch.submit_batch_job, submit)
        retry = ActivityEnvironment()
        retry.info = dataclasses.replace(retry.info, attempt=2)
        again = await retry.run(batch.submit_batch_job, submit)

    assert again == first
    (job,) = _jobs_of(emulator, token)
    assert job.name == first.job_name and job.display_name == submit.display_name


def _item(task: str, index: int, prompt: str = "p") -> BatchItem:
    plan = PromptPlan(prompt=prompt, model="gemini-2.5-flash-image", aspect_ratio="1:1")
    return BatchItem(task_workflow_id=task, task_id=task, project_id="p", variation_index=index, plan=plan)


def test_jobs_take_whole_tasks_in_arrival_order() -> None:
    pending = [_item("a", 0), _item("a", 1), _item("b", 0), _item("b", 1), _item("b", 2), _item("c", 0)]
    taken, rest = take_job(pending, 4)
    assert [i.key for i in taken] == ["a#0", "a#1"]  # b does not fit beside a: it waits whole
    assert [i.key for i in rest] == ["b#0", "b#1", "b#2", "c#0"]
    taken, rest = take_job(rest, 4)
    assert [i.key for i in taken] == ["b#0", "b#1", "b#2", "c#0"]
    taken, rest = take_job([_item("big", i) for i in range(5)], 2)  # larger than a job: split
    assert [i.key for i in taken] == ["big#0", "big#1"] and len(rest) == 3


async def test_a_batch_task_of_three_completes_through_one_job(
    client: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.batch_script(token, turnaround_s=1.0)
    project_id = await create_project(client)
    created = await create_task(client, project_id, prompt=f"a lighthouse at dusk {token}", n=3, mode="batch")

    task = await wait_for_task(client, created["id"], timeout_s=60)

    assert task["status"] == "succeeded", task
    assert len(task["asset_ids"]) == 3
    calls = emulator.calls(token)
    assert len(calls) == 3 and all(c.batch for c in calls)  # no single generateContent call
    (job,) = _jobs_of(emulator, token)
    assert {c.batch for c in calls} == {job.name}
    assert [v["batch_job"] for v in task["variations"]] == [job.name] * 3
    assets = [(await client.get(f"/api/v1/rendered-assets/{asset_id}")).json() for asset_id in task["asset_ids"]]
    assert sorted(a["variation_index"] for a in assets) == [0, 1, 2]
    batch_price = image_price_micro_usd(task["parameters"]["model"], None, "batch")
    assert batch_price * 2 == image_price_micro_usd(task["parameters"]["model"], None, "standard")  # half price
    assert task["cost"]["micro_usd"] == 3 * batch_price
    for asset in assets:
        assert asset["cost"]["micro_usd"] == batch_price
        assert asset["metadata"]["parameters"]["mode"] == "batch"
        assert asset["metadata"]["batch"] == {"job": job.name}
        assert asset["metadata"]["lineage"]["task_id"] == created["id"]
        async with httpx.AsyncClient() as s3:
            image = await s3.get(asset["url"])
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        assert len(image.content) == asset["byte_size"]


async def test_batch_histories_replay(
    client: httpx.AsyncClient, emulator: EmulatorServer, batch_worker: WorkerRunner, temporal: Client, token: str
) -> None:
    """A one-image batch task's three workflows replay against the current code: the task, the
    collector's run that handed it to a job (closed by continue-as-new after that one job) and
    the job. With STUDIO_RECORD_HISTORIES=1 they are written to tests/histories/ (replayed by
    tests/test_replay.py). The model is one no other test here uses, so the collector's run
    holds this task's job only."""
    async with batch_worker.changed(batch_collector_jobs_per_run=1):
        emulator.batch_script(token, turnaround_s=0.5)
        project_id = await create_project(client)
        created = await create_task(
            client, project_id, prompt=f"replayed castle {token}", n=1, mode="batch", model="gemini-2.5-flash-image"
        )
        task = await wait_for_task(client, created["id"], timeout_s=60)
        (job,) = _jobs_of(emulator, token)
        job_handle = temporal.get_workflow_handle(job.display_name)  # the job is named after its workflow
        assert await job_handle.result() == "JOB_STATE_SUCCEEDED"
        job_run = await job_handle.describe()
        assert job_run.parent_id is not None and job_run.parent_run_id is not None
        collector = temporal.get_workflow_handle(job_run.parent_id, run_id=job_run.parent_run_id)
        assert (await collector.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW

    assert task["status"] == "succeeded", task
    await assert_replays(await fetch_history(temporal, created["workflow_id"]), "render_task_batch_succeeded_n1")
    await assert_replays(await collector.fetch_history(), "batch_collector_one_job_continued_as_new")
    await assert_replays(await job_handle.fetch_history(), "gemini_batch_job_succeeded_n1")


async def test_ten_one_image_batch_tasks_become_one_job(
    client: httpx.AsyncClient, emulator: EmulatorServer, batch_worker: WorkerRunner, token: str
) -> None:
    # A job of exactly ten, however slowly a loaded machine brings the ten tasks to the
    # collector: a long gather, ended by the tenth item.
    async with batch_worker.changed(batch_gather_s=60.0, batch_max_items=10):
        emulator.batch_script(token, turnaround_s=1.0)
        project_id = await create_project(client)
        created = await asyncio.gather(
            *(create_task(client, project_id, prompt=f"catalogue item {i} {token}", mode="batch") for i in range(10))
        )
        tasks = await asyncio.gather(*(wait_for_task(client, c["id"], timeout_s=60) for c in created))

    assert [t["status"] for t in tasks] == ["succeeded"] * 10
    assert all(len(t["asset_ids"]) == 1 for t in tasks)
    (job,) = _jobs_of(emulator, token)
    assert len(job.items) == 10
    assert emulator.stats(token)["calls"] == 10 and {c.batch for c in emulator.calls(token)} == {job.name}


async def test_a_job_holds_no_more_4k_answers_than_a_worker_reads_at_once(
    client: httpx.AsyncClient, emulator: EmulatorServer, batch_worker: WorkerRunner, token: str
) -> None:
    """A job's answers come back inline and are read whole: with BATCH_MAX_OUTPUT_MB=120, a
    task of four 4K images (about 54 MB of JSON each) goes out as two jobs of two."""
    async with batch_worker.changed(batch_gather_s=2.0, batch_max_items=100, batch_max_output_mb=120):
        emulator.batch_script(token, turnaround_s=1.0)
        project_id = await create_project(client)
        created = await create_task(
            client, project_id, prompt=f"a poster wall {token}", n=4, image_size="4K", mode="batch"
        )
        task = await wait_for_task(client, created["id"], timeout_s=90)

    assert task["status"] == "succeeded", task
    assert len(task["asset_ids"]) == 4
    assert sorted(len(job.items) for job in _jobs_of(emulator, token)) == [2, 2]


@pytest.mark.parametrize(("outcome", "code"), [("expire", "batch_expired"), ("fail", "batch_failed")])
async def test_a_job_that_expires_or_fails_fails_its_tasks_with_its_code(
    client: httpx.AsyncClient, emulator: EmulatorServer, token: str, outcome: str, code: str
) -> None:
    emulator.batch_script(token, outcome, turnaround_s=1.0)
    project_id = await create_project(client)
    created = await create_task(client, project_id, prompt=f"an old map {token}", n=2, mode="batch")

    task = await wait_for_task(client, created["id"], timeout_s=60)

    assert task["status"] == "failed", task
    assert task["error"]["code"] == code
    assert [v["error"]["code"] for v in task["variations"]] == [code, code]
    assert emulator.calls(token) == []  # nothing billed


async def _reference_of(client: httpx.AsyncClient, project_id: str, side_px: int) -> tuple[str, int]:
    """Upload a noise PNG of `side_px` x `side_px` (incompressible: ~3 bytes per pixel); its
    asset id and size in bytes."""
    noise = Image.frombytes("RGB", (side_px, side_px), os.urandom(side_px * side_px * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG", compress_level=0)
    data = out.getvalue()
    body = {"filename": "ref", "content_type": "image/png", "byte_size": len(data)}
    started = (await client.post(f"/api/v1/projects/{project_id}/uploads", json=body)).json()
    async with httpx.AsyncClient() as s3:
        assert (await s3.put(started["put_url"], content=data, headers=started["put_headers"])).status_code == 200
    completed = await client.post(f"/api/v1/uploads/{started['id']}/complete")
    assert completed.status_code == 201, completed.text
    return completed.json()["id"], len(data)


async def test_references_past_googles_inline_limit_are_refused_or_split_across_jobs(
    client: httpx.AsyncClient, emulator: EmulatorServer, batch_worker: WorkerRunner, token: str
) -> None:
    """Google takes at most 20 MiB of inline requests per batch job, references base64 inside.
    One task whose references alone pass it is refused (422, before any model call); two tasks
    that pass it together go out as two jobs (one job would be refused as a whole)."""
    project_id = await create_project(client)
    big, big_size = await _reference_of(client, project_id, 2300)  # ~15.9 MB: ~21 MB in base64
    too_big = await client.post(
        f"/api/v1/projects/{project_id}/tasks",
        json={"name": "t", "prompt": f"too big {token}", "mode": "batch", "reference_asset_ids": [big]},
    )
    assert big_size * 4 / 3 > 20 * 2**20
    assert too_big.status_code == 422, too_big.text
    assert "20 MB" in too_big.json()["error"]["message"]

    half, _ = await _reference_of(client, project_id, 1700)  # ~8.7 MB: ~11.6 MB in base64
    async with batch_worker.changed(batch_gather_s=3.0):
        emulator.batch_script(token, turnaround_s=1.0)
        created = [
            await create_task(
                client, project_id, prompt=f"variant {i} {token}", mode="batch", reference_asset_ids=[half]
            )
            for i in range(2)
        ]
        tasks = [await wait_for_task(client, c["id"], timeout_s=90) for c in created]

    assert [t["status"] for t in tasks] == ["succeeded", "succeeded"], tasks
    assert sorted(len(job.items) for job in _jobs_of(emulator, token)) == [1, 1]


async def test_the_retry_of_a_failed_batch_task_is_a_batch_task_at_the_batch_price(
    client: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.batch_script(token, "fail", turnaround_s=1.0)
    project_id = await create_project(client)
    created = await create_task(client, project_id, prompt=f"a tide chart {token}", n=2, mode="batch", priority="batch")
    assert (await wait_for_task(client, created["id"], timeout_s=60))["status"] == "failed"
    emulator.batch_script(token, turnaround_s=1.0)

    retried = await client.post(f"/api/v1/tasks/{created['id']}/retry")

    assert retried.status_code == 202, retried.text
    again = retried.json()
    assert (again["parameters"]["mode"], again["parameters"]["priority"]) == ("batch", "batch")
    batch_price = image_price_micro_usd(again["parameters"]["model"], None, "batch")
    assert again["estimated_cost"]["micro_usd"] == 2 * batch_price  # not the standard price
    task = await wait_for_task(client, again["id"], timeout_s=60)
    assert task["status"] == "succeeded", task
    assert all(call.batch for call in emulator.calls(token))  # through a batch job, not one call each


async def test_a_blocked_item_fails_its_variation_only(
    client: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.batch_script(token, turnaround_s=1.0)
    emulator.script(token, [{"kind": "prompt_block", "reason": "PROHIBITED_CONTENT"}])
    project_id = await create_project(client)
    created = await create_task(client, project_id, prompt=f"a harbour {token}", n=2, mode="batch")

    task = await wait_for_task(client, created["id"], timeout_s=60)

    assert task["status"] == "succeeded", task
    assert len(task["asset_ids"]) == 1
    states = sorted((v["state"], (v["error"] or {}).get("code")) for v in task["variations"])
    assert states == [("failed", "content_blocked"), ("succeeded", None)]
    blocked = next(v for v in task["variations"] if v["error"])
    assert "PROHIBITED_CONTENT" in blocked["error"]["message"]


async def test_cancelling_a_batch_task_cancels_the_job(
    client: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.batch_script(token, turnaround_s=120)
    project_id = await create_project(client)
    created = await create_task(client, project_id, prompt=f"a slow comet {token}", n=2, mode="batch")
    waiting = await _wait_for_batch_job(client, created["id"])
    (job,) = _jobs_of(emulator, token)
    assert waiting["variations"][0]["batch_job"] == job.name

    response = await client.post(f"/api/v1/tasks/{created['id']}/cancel")
    assert response.status_code == 202, response.text
    task = await wait_for_task(client, created["id"], timeout_s=30)

    assert task["status"] == "canceled"
    deadline = time.monotonic() + 20
    while job.state != "BATCH_STATE_CANCELLED":
        assert time.monotonic() < deadline, f"job still {job.state}"
        await asyncio.sleep(0.2)
    assert emulator.calls(token) == []  # nothing billed


async def test_a_task_cancelled_while_its_items_gather_makes_no_job(
    client: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    project_id = await create_project(client)
    created = await create_task(client, project_id, prompt=f"a shy fox {token}", mode="batch")
    deadline = time.monotonic() + 10
    while (await client.get(f"/api/v1/tasks/{created['id']}")).json()["stage"] != "waiting_for_batch":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)

    response = await client.post(f"/api/v1/tasks/{created['id']}/cancel")  # within the 4 s gather
    assert response.status_code == 202, response.text
    assert (await wait_for_task(client, created["id"], timeout_s=30))["status"] == "canceled"
    await asyncio.sleep(6.0)  # past the gather time: the collector would have submitted by now

    assert _jobs_of(emulator, token) == []


async def test_the_worker_stopped_while_a_job_runs_loses_nothing_and_pays_once(
    client: httpx.AsyncClient, emulator: EmulatorServer, batch_worker: WorkerRunner, token: str
) -> None:
    emulator.batch_script(token, turnaround_s=6.0)
    project_id = await create_project(client)
    created = await create_task(client, project_id, prompt=f"a night train {token}", n=2, mode="batch")
    await _wait_for_batch_job(client, created["id"])

    await batch_worker.stop()
    await asyncio.sleep(7.0)  # the job finishes while no worker runs
    (job,) = _jobs_of(emulator, token)
    await batch_worker.start()
    task = await wait_for_task(client, created["id"], timeout_s=60)

    assert task["status"] == "succeeded", task
    assert len(task["asset_ids"]) == 2
    assert len(_jobs_of(emulator, token)) == 1
    calls = emulator.calls(token)
    assert len(calls) == 2 and {c.batch for c in calls} == {job.name}  # each item billed once


async def test_a_task_split_across_jobs_by_a_collector_that_continues_as_new_completes(
    client: httpx.AsyncClient, emulator: EmulatorServer, batch_worker: WorkerRunner, temporal: Client, token: str
) -> None:
    """Five variations, jobs of at most two, and a collector that continues as new after every
    job: the items it carries over (the rest of a task already in a job) are submitted too."""
    async with batch_worker.changed(batch_gather_s=1.0, batch_max_items=2, batch_collector_jobs_per_run=1):
        for _ in range(3):
            emulator.batch_script(token, turnaround_s=0.5)
        project_id = await create_project(client)
        created = await create_task(client, project_id, prompt=f"a split mosaic {token}", n=5, mode="batch")
        task = await wait_for_task(client, created["id"], timeout_s=90)

    assert task["status"] == "succeeded", task
    assert len(task["asset_ids"]) == 5
    jobs = _jobs_of(emulator, token)
    assert sorted(len(job.items) for job in jobs) == [1, 2, 2]
    assert sorted(v["batch_job"] for v in task["variations"]) == sorted(job.name for job in jobs for _ in job.items)
    calls = emulator.calls(token)
    assert len(calls) == 5 and {c.batch for c in calls} == {job.name for job in jobs}  # each item billed once
    history = await fetch_history(temporal, created["workflow_id"])
    assert (await replay_history(history)).replay_failure is None


async def test_a_batch_wait_past_batch_wait_max_s_fails_as_expired_and_cancels_the_job(
    client: httpx.AsyncClient, emulator: EmulatorServer, batch_worker: WorkerRunner, token: str
) -> None:
    """No outcome within BATCH_WAIT_MAX_S (a job that never ends): the task fails its
    variations as `batch_expired` instead of waiting forever, and its job is canceled."""
    async with batch_worker.changed(batch_wait_max_s=15.0):
        emulator.batch_script(token, turnaround_s=300)
        project_id = await create_project(client)
        created = await create_task(client, project_id, prompt=f"a stalled glacier {token}", n=2, mode="batch")
        await _wait_for_batch_job(client, created["id"])
        task = await wait_for_task(client, created["id"], timeout_s=60)
        (job,) = _jobs_of(emulator, token)
        deadline = time.monotonic() + 20
        while job.state != "BATCH_STATE_CANCELLED":  # its only task withdrew
            assert time.monotonic() < deadline, f"job still {job.state}"
            await asyncio.sleep(0.2)

    assert task["status"] == "failed", task
    assert task["error"]["code"] == "batch_expired"
    assert [v["error"]["code"] for v in task["variations"]] == ["batch_expired"] * 2
    assert emulator.calls(token) == []  # nothing billed
