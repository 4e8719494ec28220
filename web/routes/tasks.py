"""A project's tasks, live: the page renders the newest rows, then one SSE stream per page
(`/projects/{id}/tasks/stream`) replaces a row whenever its task changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse

from api.deps import ResourcesDep, SessionDep
from api.task_status import list_task_statuses
from api.task_view import task_public
from db.tasks import TaskFilters, list_project_tasks
from db.web_sessions import session_user
from web.page_errors import project_page_or_404
from web.session import COOKIE, SignedInDep
from web.task_feed import KEEPALIVE_S, TERMINAL, project_task_events
from web.templating import render

router = APIRouter()

TASKS_SHOWN = 50


@router.get("/projects/{project_id}/tasks")
async def tasks_page(
    project_id: uuid.UUID, request: Request, session: SessionDep, resources: ResourcesDep, signed: SignedInDep
) -> Response:
    """The project's newest tasks with their status (one Temporal visibility call)."""
    project = await project_page_or_404(session, signed.user, project_id)
    rows, _ = await list_project_tasks(session, project.id, TaskFilters(), None, TASKS_SHOWN)
    statuses = await list_task_statuses(resources.temporal, str(project.id), [t.workflow_id for t in rows])
    tasks = [task_public(t, statuses[t.workflow_id], resources.settings) for t in rows]
    return render(request, "tasks.html", signed, project=project, tasks=tasks)


@router.get("/projects/{project_id}/tasks/stream")
async def tasks_stream(
    project_id: uuid.UUID, request: Request, session: SessionDep, resources: ResourcesDep, signed: SignedInDep
) -> EventSourceResponse:
    """`task` events: a row's new HTML whenever one of the project's tasks changes; the stream
    ends once its session is signed out or expires."""
    project = await project_page_or_404(session, signed.user, project_id)
    rows, _ = await list_project_tasks(session, project.id, TaskFilters(), None, TASKS_SHOWN)
    statuses = await list_task_statuses(resources.temporal, str(project.id), [t.workflow_id for t in rows])
    unfinished = [t for t in rows if statuses[t.workflow_id].status not in TERMINAL]
    token = request.cookies.get(COOKIE, "")

    async def signed_in() -> bool:
        async with resources.sessions() as check:
            return await session_user(check, token) is not None

    return EventSourceResponse(
        project_task_events(resources, project.id, unfinished, datetime.now(UTC), TASKS_SHOWN, signed_in),
        ping=KEEPALIVE_S,
        sep="\n",
    )
