"""A project's live task list as Server-Sent Events: one stream per open page, not one per task
(a browser opens at most six connections to a host over HTTP/1.1).

Every POLL_S seconds the stream describes the project's unfinished tasks (the same derivation
as `GET /tasks/{id}`; closed workflows come from the per-process cache) and, every NEW_TASKS_S,
looks for tasks created since it opened. A `task` event carries `{"id", "html"}`: the task's row
rendered on the server, sent only when it changed. A comment every KEEPALIVE_S keeps proxies
from closing a quiet stream; the stream ends when the browser goes away.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from api.schemas import TaskPublic
from api.state import ApiResources
from api.task_status import describe_task
from api.task_view import task_public
from db.models import Task
from db.tasks import TaskFilters, list_project_tasks
from web.templating import TEMPLATES

POLL_S = 0.5
NEW_TASKS_S = 1.0
KEEPALIVE_S = 15.0
TERMINAL = {"succeeded", "failed", "canceled", "timed_out", "terminated"}
NEW_TASKS_PER_CHECK = 50


def task_row_html(view: TaskPublic) -> str:
    """The task's row in the list (`partials/task_row.html`)."""
    return TEMPLATES.get_template("partials/task_row.html").render(task=view)


def _event(view: TaskPublic) -> tuple[str, str]:
    html = task_row_html(view)
    data = json.dumps({"id": str(view.id), "status": view.status, "html": html})
    return hashlib.sha256(html.encode()).hexdigest(), f"event: task\ndata: {data}\n\n"


async def project_task_events(
    resources: ApiResources, project_id: uuid.UUID, tracked: list[Task], opened_at: datetime
) -> AsyncIterator[str]:
    """Yield `task` events for `tracked` (the unfinished tasks the page shows) and for tasks of the
    project created after `opened_at`, each time a task's row changes, until it is terminal."""
    live: dict[uuid.UUID, Task] = {t.id: t for t in tracked}
    sent: dict[uuid.UUID, str] = {}
    last_new_check = time.monotonic()
    quiet_since = time.monotonic()
    # The page's own rows may be a moment old: look back a little for tasks created meanwhile.
    since = opened_at - timedelta(seconds=2)
    yield "retry: 2000\n\n"
    while True:
        if time.monotonic() - last_new_check >= NEW_TASKS_S:
            last_new_check = time.monotonic()
            async with resources.sessions() as session:
                rows, _ = await list_project_tasks(
                    session, project_id, TaskFilters(created_after=since), None, NEW_TASKS_PER_CHECK
                )
            for task in rows:
                if task.id not in live and task.id not in sent:
                    live[task.id] = task
        for task in list(live.values()):
            derived = await describe_task(resources.temporal, task.workflow_id, resources.terminal_statuses)
            view = task_public(task, derived, resources.settings)
            digest, event = _event(view)
            if sent.get(task.id) != digest:
                sent[task.id] = digest
                quiet_since = time.monotonic()
                yield event
            if view.status in TERMINAL:
                del live[task.id]
        if time.monotonic() - quiet_since > KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_S)
