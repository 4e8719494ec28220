"""Projects, always scoped to their owner: another user's project is indistinguishable from none."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Project
from db.pagination import newest_first, page_of


async def create_project(
    session: AsyncSession,
    owner_id: uuid.UUID,
    name: str,
    description: str | None,
    brand_kit: dict[str, Any] | None = None,
    daily_image_quota: int | None = None,
) -> Project:
    """Add a project owned by `owner_id`. The caller commits."""
    project = Project(
        owner_id=owner_id,
        name=name,
        description=description,
        brand_kit=brand_kit,
        daily_image_quota=daily_image_quota,
    )
    session.add(project)
    await session.flush()
    await session.refresh(project)
    return project


async def get_owned_project(session: AsyncSession, owner_id: uuid.UUID, project_id: uuid.UUID) -> Project | None:
    """The project if it exists and belongs to `owner_id`, else None."""
    result = await session.execute(select(Project).where(Project.id == project_id, Project.owner_id == owner_id))
    return result.scalar_one_or_none()


async def list_owned_projects(
    session: AsyncSession, owner_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Project], str | None]:
    """A page of the owner's projects, newest first, and the next cursor."""
    stmt = newest_first(select(Project).where(Project.owner_id == owner_id), Project, cursor, limit)
    rows = list((await session.execute(stmt)).scalars())
    return page_of(rows, limit)
