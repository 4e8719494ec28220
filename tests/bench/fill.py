"""Filling a project with thousands of tasks without rendering them.

Creating 10,000 tasks through the API and running them all would take longer than the whole
benchmark may. A filled task is what the read paths see of a task: its row in Postgres (as the
API writes it) and its workflow in Temporal with the API's search attributes (started on a queue
no worker polls, so it never runs). The list reads only those. A GET of a running task also
queries the workflow, which with no worker waits for the query's timeout, so GETs are timed on
tasks `terminate_some` closed: a read of one costs what a read of any finished task costs (a
describe and the close event; the API then caches closed statuses, so each is read once).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from sqlalchemy import insert
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from db.models import Project, Task
from kernel.catalog import DEFAULT_MODEL
from kernel.contract import RENDER_TASK_WORKFLOW, workflow_id_for
from kernel.payloads import RenderParams, RenderTaskInput
from kernel.search_attributes import ASSET_TYPE, MODEL, OWNER_ID, PROJECT_ID, RENDER_STAGE, TASK_ID
from tests.bench.env import BenchEnv

CONCURRENCY = 50
ROWS_PER_INSERT = 1000


async def create_project_row(env: BenchEnv, name: str) -> str:
    """A project of the benchmark's user, written straight to Postgres (no API needed)."""
    assert env.sessions is not None
    project = Project(owner_id=uuid.UUID(env.user_id), name=name)
    async with env.sessions() as session:
        session.add(project)
        await session.commit()
    return str(project.id)


async def fill_project(
    env: BenchEnv, project_id: str, count: int, tag: str, allowed: asyncio.Event | None = None
) -> list[str]:
    """Add `count` tasks to the project; returns their ids. Workflows are started only while
    `allowed` is set (None: always)."""
    assert env.sessions is not None
    temporal = await env.temporal()
    params = RenderParams(model=DEFAULT_MODEL)
    ids = [uuid.uuid4() for _ in range(count)]
    rows: list[dict[str, Any]] = [
        {
            "id": task_id,
            "project_id": uuid.UUID(project_id),
            "name": f"{tag} {i}",
            "prompt": f"{tag} t{i:05d}x",
            "parameters": params.model_dump(),
            "workflow_id": workflow_id_for(task_id),
        }
        for i, task_id in enumerate(ids)
    ]
    async with env.sessions() as session:
        for start in range(0, len(rows), ROWS_PER_INSERT):
            await session.execute(insert(Task), rows[start : start + ROWS_PER_INSERT])
        await session.commit()

    queue = f"bench-fill-{uuid.uuid4().hex[:6]}"  # never polled
    pending = list(range(count))

    async def worker() -> None:
        while pending:
            if allowed is not None:
                await allowed.wait()
                if not pending:
                    return
            row = rows[pending.pop()]
            task_id = str(row["id"])
            inp = RenderTaskInput(
                task_id=task_id, project_id=project_id, prompt=row["prompt"], params=params, name=row["name"],
                owner_id=env.user_id,
            )  # fmt: skip
            attributes = TypedSearchAttributes(
                [
                    SearchAttributePair(PROJECT_ID, project_id),
                    SearchAttributePair(TASK_ID, task_id),
                    SearchAttributePair(OWNER_ID, env.user_id),
                    SearchAttributePair(MODEL, params.model),
                    SearchAttributePair(ASSET_TYPE, "image"),
                    SearchAttributePair(RENDER_STAGE, "completed"),
                ]
            )
            await temporal.start_workflow(
                RENDER_TASK_WORKFLOW, inp, id=row["workflow_id"], task_queue=queue, search_attributes=attributes
            )

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return [str(task_id) for task_id in ids]


async def terminate_some(env: BenchEnv, task_ids: list[str], count: int) -> list[str]:
    """Close `count` of the filled tasks (the last ones); returns their ids."""
    temporal = await env.temporal()
    chosen = task_ids[-count:]
    pending = list(chosen)

    async def worker() -> None:
        while pending:
            task_id = pending.pop()
            handle = temporal.get_workflow_handle(workflow_id_for(uuid.UUID(task_id)))
            await handle.terminate(reason="benchmark filler: a finished task")

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return chosen


class Filler:
    """The at-rest projects (`big` tasks and `small` tasks), filled in the background: their
    workflows are started only while `allowed` is set, which the benchmark does while little
    else runs (the quota scenario mostly waits for the quota) and in the at-rest scenario."""

    def __init__(self, env: BenchEnv, big: int, small: int) -> None:
        self.env = env
        self.big, self.small = big, small
        self.allowed = asyncio.Event()
        self.big_project = self.small_project = ""
        self.big_ids: list[str] = []
        self.started_s = 0.0  # seconds spent filling while allowed
        self._task: asyncio.Task[None] | None = None
        self._since: float | None = None

    async def start(self) -> None:
        tag = f"bench-rest-{uuid.uuid4().hex[:6]}"
        self.big_project = await create_project_row(self.env, f"{tag} big")
        self.small_project = await create_project_row(self.env, f"{tag} small")

        async def run() -> None:
            self.big_ids = await fill_project(self.env, self.big_project, self.big, tag, self.allowed)
            await fill_project(self.env, self.small_project, self.small, f"{tag}-small", self.allowed)

        self._task = asyncio.create_task(run())

    def allow(self, on: bool) -> None:
        """Let the fill run (True) or hold it after the starts in flight (False)."""
        loop = asyncio.get_running_loop()
        if on and not self.allowed.is_set():
            self._since = loop.time()
            self.allowed.set()
        elif not on and self.allowed.is_set():
            self.allowed.clear()
            self.started_s += loop.time() - (self._since or loop.time())
            self._since = None

    async def finish(self) -> None:
        """Let the fill run to its end and wait for it."""
        assert self._task is not None
        self.allow(True)
        await self._task
        self.allow(False)

    async def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
