"""Task rows. Status is not stored: it is derived from the task's Temporal workflow."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Project, Task
from db.pagination import newest_first, page_of
from kernel.contract import workflow_id_for
from kernel.payloads import RenderTaskInput


async def insert_task_if_absent(
    session: AsyncSession,
    *,
    task_id: uuid.UUID,
    project_id: uuid.UUID,
    name: str,
    description: str | None,
    prompt: str,
    parameters: dict[str, Any],
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    retry_of_task_id: uuid.UUID | None = None,
) -> None:
    """Insert the task row unless it exists (written by the API and by the workflow, whichever
    comes first). The caller commits."""
    stmt = (
        insert(Task)
        .values(
            id=task_id,
            project_id=project_id,
            name=name,
            description=description,
            prompt=prompt,
            parameters=parameters,
            workflow_id=workflow_id_for(task_id),
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            retry_of_task_id=retry_of_task_id,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    await session.execute(stmt)


async def insert_task_for(session: AsyncSession, inp: RenderTaskInput) -> None:
    """`insert_task_if_absent` from a workflow's input (the whole task). The caller commits."""
    await insert_task_if_absent(
        session,
        task_id=uuid.UUID(inp.task_id),
        project_id=uuid.UUID(inp.project_id),
        name=inp.name,
        description=inp.description,
        prompt=inp.prompt,
        parameters=inp.params.model_dump(),
        idempotency_key=inp.idempotency_key,
        request_hash=inp.request_hash,
        retry_of_task_id=uuid.UUID(inp.retry_of_task_id) if inp.retry_of_task_id else None,
    )


async def get_task(session: AsyncSession, task_id: uuid.UUID) -> Task | None:
    """The task row, whoever owns it."""
    return await session.get(Task, task_id, populate_existing=True)


async def get_owned_task(session: AsyncSession, owner_id: uuid.UUID, task_id: uuid.UUID) -> Task | None:
    """The task if its project belongs to `owner_id`, else None."""
    stmt = (
        select(Task)
        .join(Project, Project.id == Task.project_id)
        .where(Task.id == task_id, Project.owner_id == owner_id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True)
class TaskFilters:
    """Optional filters of a task list. `workflow_ids` (from a visibility query on status)
    restricts the list to those workflows; an empty list matches nothing."""

    created_after: datetime | None = None
    created_before: datetime | None = None
    workflow_ids: list[str] | None = None


async def list_project_tasks(
    session: AsyncSession, project_id: uuid.UUID, filters: TaskFilters, cursor: str | None, limit: int
) -> tuple[list[Task], str | None]:
    """A page of the project's tasks matching `filters`, newest first, and the next cursor."""
    base = select(Task).where(Task.project_id == project_id)
    if filters.created_after is not None:
        base = base.where(Task.created_at >= filters.created_after)
    if filters.created_before is not None:
        base = base.where(Task.created_at < filters.created_before)
    if filters.workflow_ids is not None:
        base = base.where(Task.workflow_id.in_(filters.workflow_ids))
    rows = list((await session.execute(newest_first(base, Task, cursor, limit))).scalars())
    return page_of(rows, limit)
