"""A project's live task list as Server-Sent Events: one stream per open page, not one per task
(a browser opens at most six connections to a host over HTTP/1.1).

Every POLL_S seconds (or, when describing takes longer, right after the last round: the stream
never queues work on Temporal) the stream describes the project's unfinished tasks, at most
DESCRIBE_CONCURRENCY at a time (the same derivation as `GET /tasks/{id}`; closed workflows come
from the per-process cache) and, every NEW_TASKS_S, looks for tasks created since it opened. It
follows at most `live_max` tasks, the newest: the page shows no more rows than that. A `task`
event carries `{"id", "status", "html"}`: the task's row rendered on the server, sent only when
it changed. Framing, the keep-alive comment and disconnects are sse-starlette's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

from sse_starlette import ServerSentEvent

from api.schemas import TaskPublic
from api.state import ApiResources
from api.task_status import describe_task
from api.task_view import task_public
from db.models import Task
from db.tasks import TaskFilters, list_project_tasks
from web.templating import TEMPLATES

POLL_S = 0.5
NEW_TASKS_S = 1.0
SESSION_CHECK_S = 5.0  # a signed-out or expired session's stream ends within this (seconds)
KEEPALIVE_S = 15.0
DESCRIBE_CONCURRENCY = 8
TERMINAL = {"succeeded", "failed", "canceled", "timed_out", "terminated"}
NEW_TASKS_PER_CHECK = 50


def task_row_html(view: TaskPublic) -> str:
    """The task's row in the list (`partials/task_row.html`)."""
    return TEMPLATES.get_template("partials/task_row.html").render(task=view)


def _event(view: TaskPublic) -> tuple[str, ServerSentEvent]:
    html = task_row_html(view)
    data = json.dumps({"id": str(view.id), "status": view.status, "html": html})
    return hashlib.sha256(html.encode()).hexdigest(), ServerSentEvent(data, event="task")


async def _views(resources: ApiResources, tasks: list[Task]) -> list[TaskPublic]:
    """The views of `tasks`, in order, described at most DESCRIBE_CONCURRENCY at a time."""
    gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

    async def view(task: Task) -> TaskPublic:
        async with gate:
            derived = await describe_task(resources.temporal, task.workflow_id, resources.terminal_statuses)
        return task_public(task, derived, resources.settings)

    return list(await asyncio.gather(*(view(t) for t in tasks)))


async def project_task_events(
    resources: ApiResources,
    project_id: uuid.UUID,
    tracked: list[Task],
    opened_at: datetime,
    live_max: int,
    signed_in: Callable[[], Awaitable[bool]],
) -> AsyncIterator[ServerSentEvent]:
    """Yield `task` events for `tracked` (the unfinished tasks the page shows) and for tasks of the
    project created after `opened_at`, each time a task's row changes, until it is terminal; at
    most the `live_max` newest are followed. Ends when `signed_in()` (asked every
    SESSION_CHECK_S) says the session that opened it is over."""
    live: dict[uuid.UUID, Task] = {t.id: t for t in tracked}
    sent: dict[uuid.UUID, str] = {}
    last_new_check = last_session_check = time.monotonic()
    # The page's own rows may be a moment old: look back a little for tasks created meanwhile.
    since = opened_at - timedelta(seconds=2)
    yield ServerSentEvent(retry=2000)
    while True:
        started = time.monotonic()
        if started - last_session_check >= SESSION_CHECK_S:
            last_session_check = started
            if not await signed_in():
                return
        if started - last_new_check >= NEW_TASKS_S:
            last_new_check = started
            async with resources.sessions() as session:
                rows, _ = await list_project_tasks(
                    session, project_id, TaskFilters(created_after=since), None, NEW_TASKS_PER_CHECK
                )
            for task in rows:
                if task.id not in live and task.id not in sent:
                    live[task.id] = task
            newest = sorted(live.values(), key=lambda t: t.created_at, reverse=True)[:live_max]
            live = {t.id: t for t in newest}
        for view in await _views(resources, list(live.values())):
            digest, event = _event(view)
            if sent.get(view.id) != digest:
                sent[view.id] = digest
                yield event
            if view.status in TERMINAL:
                del live[view.id]
        await asyncio.sleep(max(POLL_S, time.monotonic() - started))
