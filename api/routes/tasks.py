"""Tasks: create (starts the workflow), list and read (status derived from the workflow)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response

from api import task_batch, task_retry, task_service
from api.deps import CurrentUser, ResourcesDep, SessionDep, owned_project_or_404, owned_task_or_404
from api.error_responses import InvalidInput, responses
from api.fields import LimitQuery, Timestamp
from api.limits import enforce_creation_rate
from api.schemas import (
    DerivedStatus,
    Page,
    ReviewCreate,
    TaskBatchCreate,
    TaskBatchResult,
    TaskCreate,
    TaskPublic,
    TaskStatus,
)
from api.task_status import describe_task, list_task_statuses, workflow_ids_with_status
from api.task_view import task_public
from db.costs import task_costs
from db.pagination import InvalidCursor
from db.tasks import TaskFilters, list_project_tasks
from kernel.payloads import ReviewOutcome
from kernel.user_text import SingleLine

router = APIRouter(tags=["tasks"])


IdempotencyKey = Annotated[
    SingleLine | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retry-safe creation: the same key and body return the same task (200).",
    ),
]


@router.post(
    "/projects/{project_id}/tasks",
    status_code=202,
    response_model=TaskPublic,
    responses={
        200: {"model": TaskPublic, "description": "the task this Idempotency-Key created"},
        **responses(401, 404, 413, 422, 429, 503),
    },
)
async def create_task(
    project_id: uuid.UUID,
    body: TaskCreate,
    session: SessionDep,
    user: CurrentUser,
    resources: ResourcesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TaskPublic:
    """Accept a render task and start its workflow (202); poll `GET /tasks/{id}` for its status.
    A retry with the same `Idempotency-Key` and body returns the same task (200)."""
    project = await owned_project_or_404(session, user, project_id)
    await enforce_creation_rate(session, user, resources.settings)
    result = await task_service.create_task(
        session, resources.sessions, resources.temporal, resources.settings, user.id, project, body, idempotency_key
    )
    if not result.created:
        response.status_code = 200
        derived = await describe_task(resources.temporal, result.task.workflow_id, resources.terminal_statuses)
        costs = await task_costs(session, [result.task.id])
        return task_public(result.task, derived, resources.settings, costs.get(result.task.id))
    return task_public(result.task, DerivedStatus(status="queued", stage="queued"), resources.settings)


@router.post(
    "/projects/{project_id}/tasks:batch",
    response_model=TaskBatchResult,
    responses=responses(401, 404, 413, 422, 429, 503),
)
async def create_tasks_batch(
    project_id: uuid.UUID, body: TaskBatchCreate, session: SessionDep, user: CurrentUser, resources: ResourcesDep
) -> TaskBatchResult:
    """Create up to 100 tasks in one call (a catalogue job). Each item is a task body with an
    optional `idempotency_key` of its own; each result carries the status a single creation would
    have answered (202, 200 for a known key, 4xx) with the task or the error. The whole batch
    takes its creation tokens up front (429 for all when short)."""
    project = await owned_project_or_404(session, user, project_id)
    await enforce_creation_rate(session, user, resources.settings, cost=len(body.tasks))
    return TaskBatchResult(items=await task_batch.create_batch(resources, session, user, project, body))


@router.get("/projects/{project_id}/tasks", response_model=Page[TaskPublic], responses=responses(401, 404, 422, 503))
async def list_tasks(
    project_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    resources: ResourcesDep,
    cursor: str | None = None,
    limit: LimitQuery = 50,
    status: TaskStatus | None = None,
    created_after: Timestamp | None = None,
    created_before: Timestamp | None = None,
) -> Page[TaskPublic]:
    """The project's tasks, newest first, with their status (one visibility call per page).
    `status` filters through Temporal visibility, which lags about a second behind changes."""
    await owned_project_or_404(session, user, project_id)
    workflow_ids = None
    if status is not None:
        workflow_ids = await workflow_ids_with_status(resources.temporal, str(project_id), status)
    filters = TaskFilters(created_after=created_after, created_before=created_before, workflow_ids=workflow_ids)
    try:
        rows, next_cursor = await list_project_tasks(session, project_id, filters, cursor, limit)
    except InvalidCursor as exc:
        raise InvalidInput(str(exc)) from exc
    statuses = await list_task_statuses(
        resources.temporal, str(project_id), [t.workflow_id for t in rows], resources.listed_terminal_statuses
    )
    costs = await task_costs(session, [t.id for t in rows])
    items = [task_public(t, statuses[t.workflow_id], resources.settings, costs.get(t.id)) for t in rows]
    return Page(items=items, next_cursor=next_cursor)


@router.get("/tasks/{task_id}", response_model=TaskPublic, responses=responses(401, 404, 503))
async def get_task(task_id: uuid.UUID, session: SessionDep, user: CurrentUser, resources: ResourcesDep) -> TaskPublic:
    """One task with its live status, per-variation outcomes (with the retry in progress, if
    any) and, on failure, `error`."""
    task = await owned_task_or_404(session, user, task_id)
    derived = await describe_task(resources.temporal, task.workflow_id, resources.terminal_statuses)
    costs = await task_costs(session, [task.id])
    return task_public(task, derived, resources.settings, costs.get(task.id))


@router.post(
    "/tasks/{task_id}/cancel", status_code=202, response_model=TaskPublic, responses=responses(401, 404, 409, 503)
)
async def cancel_task(
    task_id: uuid.UUID, session: SessionDep, user: CurrentUser, resources: ResourcesDep
) -> TaskPublic:
    """Cancel a running task: in-flight model calls stop (through their heartbeats), its
    images are deleted and nothing is recorded. 409 when the task already finished."""
    task = await owned_task_or_404(session, user, task_id)
    await task_service.cancel_task(resources.temporal, task.workflow_id)
    derived = await describe_task(resources.temporal, task.workflow_id, resources.terminal_statuses)
    return task_public(task, derived, resources.settings)


@router.post("/tasks/{task_id}/review", response_model=ReviewOutcome, responses=responses(401, 404, 409, 422, 503))
async def review_task(
    task_id: uuid.UUID, body: ReviewCreate, session: SessionDep, user: CurrentUser, resources: ResourcesDep
) -> ReviewOutcome:
    """Pick the winner of a task created with `review: true` (a workflow Update, validated by
    the workflow): the winner is approved, the other variations archived. 409 when the task is
    not awaiting a review or was already decided; 422 for an asset that is not one of its own."""
    task = await owned_task_or_404(session, user, task_id)
    return await task_service.review_task(resources.temporal, task.workflow_id, body.winner)


@router.post(
    "/tasks/{task_id}/retry",
    status_code=202,
    response_model=TaskPublic,
    responses={
        200: {"model": TaskPublic, "description": "the retry this Idempotency-Key already created"},
        **responses(401, 404, 409, 422, 429, 503),
    },
)
async def retry_task(
    task_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    resources: ResourcesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TaskPublic:
    """Start a new task (`retry_of_task_id` = this one) for the variations this task did not
    deliver; delivered ones are not paid for again. 409 for running or fully delivered tasks."""
    task = await owned_task_or_404(session, user, task_id)
    project = await owned_project_or_404(session, user, task.project_id)
    await enforce_creation_rate(session, user, resources.settings)
    result = await task_retry.retry_task(
        session, resources.sessions, resources.temporal, resources.settings, project, task, idempotency_key
    )
    if not result.created:
        response.status_code = 200
    return task_public(
        result.task,
        await describe_task(resources.temporal, result.task.workflow_id, resources.terminal_statuses),
        resources.settings,
    )
