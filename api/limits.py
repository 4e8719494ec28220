"""Limits that protect the bill, all checked before any workflow starts:
a per-user rate of task creation and a per-project daily image quota (both in Postgres, keyed
by the authenticated user and project, never by a client-supplied header)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.error_responses import TooManyRequests
from clients.settings import Settings
from db.models import Project, User
from db.usage import count_in_window, images_requested_today, lock_project, minute_window, seconds_until_next_utc_day


async def enforce_creation_rate(session: AsyncSession, user: User, settings: Settings) -> None:
    """Count this creation attempt and commit the count (it stands even if the creation fails
    later); raises TooManyRequests (429, Retry-After) past TASK_CREATE_RATE_PER_MINUTE in the
    current minute. Uses the request's own session: one pooled connection per request, so a
    burst of requests cannot exhaust the pool waiting for second connections."""
    now = datetime.now(UTC)
    window = minute_window(now)
    count = await count_in_window(session, user.id, window)
    await session.commit()
    if count > settings.task_create_rate_per_minute:
        retry_after = max(1, 60 - now.second)
        raise TooManyRequests(
            f"rate limit: at most {settings.task_create_rate_per_minute} task creations per minute",
            retry_after_s=retry_after,
            code="rate_limited",
        )


async def enforce_daily_quota(session: AsyncSession, project: Project, n: int, settings: Settings) -> None:
    """Lock the project row and check today's images plus `n` against its daily quota
    (project.daily_image_quota, else DAILY_IMAGE_QUOTA); raises TooManyRequests (429) past it.
    The lock is held until the caller's transaction ends, so concurrent creations queue."""
    await lock_project(session, project.id)
    quota = project.daily_image_quota if project.daily_image_quota is not None else settings.daily_image_quota
    now = datetime.now(UTC)
    used = await images_requested_today(session, project.id, now)
    if used + n > quota:
        raise TooManyRequests(
            f"daily image quota of project reached: {used} of {quota} images used today (UTC), {n} requested",
            retry_after_s=seconds_until_next_utc_day(now),
            code="quota_exceeded",
        )
