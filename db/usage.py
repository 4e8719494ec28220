"""Usage counters behind the API's limits, kept in Postgres so every API replica shares them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Project, RateLimitWindow, Task


def minute_window(now: datetime) -> datetime:
    """Start of the fixed one-minute window holding `now`."""
    return now.replace(second=0, microsecond=0)


async def count_in_window(session: AsyncSession, user_id: uuid.UUID, window_start: datetime) -> int:
    """Add one to the user's counter for this window and return the new count. The caller commits."""
    stmt = (
        insert(RateLimitWindow)
        .values(user_id=user_id, window_start=window_start, count=1)
        .on_conflict_do_update(index_elements=["user_id", "window_start"], set_={"count": RateLimitWindow.count + 1})
        .returning(RateLimitWindow.count)
    )
    return int((await session.execute(stmt)).scalar_one())


async def lock_project(session: AsyncSession, project_id: uuid.UUID) -> None:
    """Row-lock the project until the transaction ends, serialising quota checks per project."""
    await session.execute(select(Project.id).where(Project.id == project_id).with_for_update())


async def images_requested_today(session: AsyncSession, project_id: uuid.UUID, now: datetime) -> int:
    """Images (sum of `n`) of the project's tasks created since 00:00 UTC today."""
    day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    stmt = select(func.coalesce(func.sum(Task.parameters["n"].astext.cast(Integer)), 0)).where(
        Task.project_id == project_id, Task.created_at >= day_start
    )
    return int((await session.execute(stmt)).scalar_one())


def seconds_until_next_utc_day(now: datetime) -> int:
    """Whole seconds (at least 1) until the next 00:00 UTC."""
    tomorrow = (now.astimezone(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))
