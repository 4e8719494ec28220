"""Tasks: create (starts the workflow), list and read (status derived from the workflow)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import CurrentUser, ResourcesDep, SessionDep
from api.errors import InvalidInput, NotFound, responses
from api.routes.projects import LimitQuery, owned_project_or_404
from api.schemas import Page, TaskCreate, TaskPublic
from api.task_service import start_task, temporal_ui_url
from api.task_status import DerivedStatus, describe_task, list_task_statuses
from db.models import Task
from db.pagination import InvalidCursor
from db.tasks import get_owned_task, list_project_tasks
from studio.settings import Settings

router = APIRouter(tags=["tasks"])


def _public(task: Task, derived: DerivedStatus, settings: Settings) -> TaskPublic:
    return TaskPublic(
        id=task.id,
        project_id=task.project_id,
        name=task.name,
        description=task.description,
        prompt=task.prompt,
        parameters=task.parameters,
        status=derived.status,
        stage=derived.stage,
        variations=derived.variations,
        asset_ids=derived.asset_ids,
        error=derived.error,
        workflow_id=task.workflow_id,
        temporal_ui_url=temporal_ui_url(settings, task.workflow_id),
        created_at=task.created_at,
    )


@router.post(
    "/projects/{project_id}/tasks",
    status_code=202,
    response_model=TaskPublic,
    responses=responses(401, 404, 422, 503),
)
async def create_task(
    project_id: uuid.UUID, body: TaskCreate, session: SessionDep, user: CurrentUser, resources: ResourcesDep
) -> TaskPublic:
    """Accept a render task and start its workflow; poll `GET /tasks/{id}` for its status."""
    await owned_project_or_404(session, user, project_id)
    task = await start_task(session, resources.temporal, resources.settings, project_id, body)
    return _public(task, DerivedStatus(status="queued", stage="queued"), resources.settings)


@router.get("/projects/{project_id}/tasks", response_model=Page[TaskPublic], responses=responses(401, 404, 422, 503))
async def list_tasks(
    project_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    resources: ResourcesDep,
    cursor: str | None = None,
    limit: LimitQuery = 50,
) -> Page[TaskPublic]:
    """The project's tasks, newest first, with their status (one visibility call per page)."""
    await owned_project_or_404(session, user, project_id)
    try:
        rows, next_cursor = await list_project_tasks(session, project_id, cursor, limit)
    except InvalidCursor as exc:
        raise InvalidInput(str(exc)) from exc
    statuses = await list_task_statuses(resources.temporal, str(project_id), [t.workflow_id for t in rows])
    items = [_public(t, statuses[t.workflow_id], resources.settings) for t in rows]
    return Page(items=items, next_cursor=next_cursor)


@router.get("/tasks/{task_id}", response_model=TaskPublic, responses=responses(401, 404, 503))
async def get_task(task_id: uuid.UUID, session: SessionDep, user: CurrentUser, resources: ResourcesDep) -> TaskPublic:
    """One task with its live status, per-variation outcomes and, on failure, `error`."""
    task = await get_owned_task(session, user.id, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    derived = await describe_task(resources.temporal, task.workflow_id)
    return _public(task, derived, resources.settings)
