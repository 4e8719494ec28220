"""Task rows. Status is not stored: it is derived from the task's Temporal workflow."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Project, Task
from db.pagination import newest_first, page_of


def workflow_id_for(task_id: uuid.UUID) -> str:
    """The workflow id of a task: derived, so a second start for the same task is refused."""
    return f"task-{task_id}"


async def create_task(
    session: AsyncSession,
    project_id: uuid.UUID,
    name: str,
    description: str | None,
    prompt: str,
    parameters: dict[str, Any],
) -> Task:
    """Add a task row with its derived workflow id. The caller commits."""
    task_id = uuid.uuid4()
    task = Task(
        id=task_id,
        project_id=project_id,
        name=name,
        description=description,
        prompt=prompt,
        parameters=parameters,
        workflow_id=workflow_id_for(task_id),
    )
    session.add(task)
    await session.flush()
    await session.refresh(task)
    return task


async def delete_task(session: AsyncSession, task_id: uuid.UUID) -> None:
    """Remove a task row (used when its workflow could not be started). The caller commits."""
    await session.execute(delete(Task).where(Task.id == task_id))


async def get_owned_task(session: AsyncSession, owner_id: uuid.UUID, task_id: uuid.UUID) -> Task | None:
    """The task if its project belongs to `owner_id`, else None."""
    stmt = (
        select(Task)
        .join(Project, Project.id == Task.project_id)
        .where(Task.id == task_id, Project.owner_id == owner_id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_project_tasks(
    session: AsyncSession, project_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Task], str | None]:
    """A page of the project's tasks, newest first, and the next cursor."""
    stmt = newest_first(select(Task).where(Task.project_id == project_id), Task, cursor, limit)
    rows = list((await session.execute(stmt)).scalars())
    return page_of(rows, limit)
