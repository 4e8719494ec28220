"""`POST /projects/{id}/tasks:batch`: many tasks in one call, each reported in its place.

The whole batch takes its creation tokens up front (one per item; 429 for all when the bucket
is short). Then each item is validated and created exactly as a single creation would be,
inside a savepoint of the request's transaction: an item refused for its own reasons (invalid
body, reference not found, quota, a reused idempotency key with another body) is reported with
the status and error a single creation would have answered, and the others go on. Rows commit
together when the request ends; their workflows are already started (and write their own rows
if the API dies first), so an accepted item is never lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from api import task_service
from api.error_responses import AppError, validation_message
from api.schemas import DerivedStatus, TaskBatchCreate, TaskBatchItemResult, TaskCreate
from api.state import ApiResources
from api.task_status import describe_task
from api.task_view import task_public
from db.costs import task_costs
from db.error_kinds import classify_db_error
from db.models import Project, User
from kernel.payloads import TaskError
from kernel.user_text import SingleLine

# Workflow starts in flight at once for one batch call (the Temporal frontend takes them in parallel).
START_CONCURRENCY = 32

log = logging.getLogger(__name__)


class _ItemKey(BaseModel):
    """The one field a batch item adds to a task body."""

    idempotency_key: Annotated[SingleLine, Field(min_length=1, max_length=200)] | None = None


def _refused(index: int, status: int, code: str, message: str) -> TaskBatchItemResult:
    return TaskBatchItemResult(index=index, status=status, error=TaskError(code=code, message=message))


def _refused_by_db(index: int, exc: DBAPIError) -> TaskBatchItemResult:
    info = classify_db_error(exc)
    if info.kind == "unavailable":
        raise exc  # the database is gone: the whole request is a 503
    return _refused(index, 422 if info.kind == "invalid" else 409, "invalid_request", info.message)


async def _prepare(
    resources: ApiResources, session: AsyncSession, user: User, project: Project, index: int, raw: dict[str, Any]
) -> TaskBatchItemResult | task_service.Created | task_service.Pending:
    """Validate one item and plan it (database only): its refusal, its known task, or a pending one."""
    fields = dict(raw)
    try:
        key = _ItemKey.model_validate({"idempotency_key": fields.pop("idempotency_key", None)}).idempotency_key
        body = TaskCreate.model_validate(fields)
    except ValidationError as exc:
        return _refused(index, 422, "invalid_request", f"tasks.{index}.{validation_message(exc.errors())}")
    try:
        async with session.begin_nested():
            return await task_service.prepare_task(
                session, resources.sessions, resources.settings, user.id, project, body, key
            )
    except AppError as exc:
        return _refused(index, exc.status_code, exc.code, exc.message)
    except DBAPIError as exc:
        return _refused_by_db(index, exc)


async def _record(
    resources: ApiResources,
    session: AsyncSession,
    project: Project,
    index: int,
    pending: task_service.Pending,
    started: bool,
) -> TaskBatchItemResult | task_service.Created:
    try:
        async with session.begin_nested():
            return await task_service.record_pending(session, resources.temporal, project, pending, started)
    except AppError as exc:
        return _refused(index, exc.status_code, exc.code, exc.message)
    except DBAPIError as exc:
        return _refused_by_db(index, exc)


async def _view(resources: ApiResources, index: int, result: task_service.Created) -> TaskBatchItemResult:
    if result.created:
        derived = DerivedStatus(status="queued", stage="queued")
    else:
        derived = await describe_task(resources.temporal, result.task.workflow_id, resources.terminal_statuses)
    cost = None
    if not result.created:
        async with resources.sessions() as session:
            cost = (await task_costs(session, [result.task.id])).get(result.task.id)
    view = task_public(result.task, derived, resources.settings, cost)
    return TaskBatchItemResult(index=index, status=202 if result.created else 200, task=view)


async def create_batch(
    resources: ApiResources, session: AsyncSession, user: User, project: Project, batch: TaskBatchCreate
) -> list[TaskBatchItemResult]:
    """Create every item of `batch`; returns one result per item, in order. Raises
    DependencyUnavailable / database outages for the whole call (503).

    Three passes, so the call costs one Temporal round trip rather than one per item: plan and
    reserve each item in order (database only), start all their workflows concurrently (at most
    START_CONCURRENCY at once), then insert the rows in order. A workflow that started is never
    lost: its first activity writes its row if this request dies before the last pass."""
    steps: list[TaskBatchItemResult | task_service.Created | task_service.Pending] = []
    try:
        for i, raw in enumerate(batch.tasks):
            steps.append(await _prepare(resources, session, user, project, i, raw))
    except BaseException:
        # An outage (or a client gone) part-way: the items planned so far start nothing, so
        # what they counted against the daily quota and the budgets is given back.
        # (With the database gone they cannot be: they lapse with their day and month.)
        for step in steps:
            if isinstance(step, task_service.Pending):
                try:
                    await asyncio.shield(step.reservation.release())
                except Exception:
                    log.warning("reservation of a planned batch item not given back", exc_info=True)
        raise
    semaphore = asyncio.Semaphore(START_CONCURRENCY)

    async def start(step: task_service.Pending) -> bool | AppError:
        async with semaphore:
            try:
                return await task_service.start_pending(resources.temporal, resources.settings, user.id, step)
            except AppError as exc:
                return exc

    pending = [step for step in steps if isinstance(step, task_service.Pending)]
    outcomes = iter(await asyncio.gather(*(start(step) for step in pending)))
    results: list[TaskBatchItemResult] = []
    for index, step in enumerate(steps):
        done: TaskBatchItemResult | task_service.Created
        if isinstance(step, task_service.Pending):
            outcome = next(outcomes)
            if isinstance(outcome, AppError):
                done = _refused(index, outcome.status_code, outcome.code, outcome.message)
            else:
                done = await _record(resources, session, project, index, step, outcome)
        else:
            done = step
        results.append(done if isinstance(done, TaskBatchItemResult) else await _view(resources, index, done))
    return results
