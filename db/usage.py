"""Usage counters behind the API's limits, kept in Postgres so every API replica shares them.
Each is one statement on one row: O(1) per creation, whatever the day's volume."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CreationBucket, ProjectDailyImages, ProjectSpend


def utc_day(now: datetime) -> date:
    """The UTC calendar day of `now`."""
    return now.astimezone(UTC).date()


async def reserve_daily_images(
    session: AsyncSession, project_id: uuid.UUID, day: date, n: int, quota: int
) -> tuple[bool, int]:
    """Add `n` to the project's images of `day` unless that would pass `quota`; returns
    (reserved, images counted for the day afterwards). One upsert; the caller commits (at once:
    the row stays locked until then)."""
    if n > quota:
        return False, await images_of_day(session, project_id, day)
    stmt = (
        insert(ProjectDailyImages)
        .values(project_id=project_id, day=day, images=n)
        .on_conflict_do_update(
            index_elements=["project_id", "day"],
            set_={"images": ProjectDailyImages.images + n},
            where=ProjectDailyImages.images + n <= quota,
        )
        .returning(ProjectDailyImages.images)
    )
    total = (await session.execute(stmt)).scalar_one_or_none()
    if total is None:
        return False, await images_of_day(session, project_id, day)
    return True, int(total)


async def release_daily_images(session: AsyncSession, project_id: uuid.UUID, day: date, n: int) -> None:
    """Give back a reservation whose task was not created. The caller commits."""
    await session.execute(
        update(ProjectDailyImages)
        .where(ProjectDailyImages.project_id == project_id, ProjectDailyImages.day == day)
        .values(images=func.greatest(0, ProjectDailyImages.images - n))
    )


async def images_of_day(session: AsyncSession, project_id: uuid.UUID, day: date) -> int:
    """Images counted for the project on `day` (0 when none)."""
    stmt = select(ProjectDailyImages.images).where(
        ProjectDailyImages.project_id == project_id, ProjectDailyImages.day == day
    )
    return int((await session.execute(stmt)).scalar_one_or_none() or 0)


async def take_creation_tokens(
    session: AsyncSession, user_id: uuid.UUID, cost: int, per_second: float, burst: int
) -> float:
    """Take `cost` tokens from the user's bucket (refilled at `per_second` up to `burst`);
    returns 0 when taken, else the seconds until enough tokens will be there. One upsert, by the
    database's clock; the caller commits."""
    if cost > burst:
        return float("inf")
    elapsed = func.extract("epoch", func.now() - CreationBucket.updated_at)
    refilled = func.least(float(burst), CreationBucket.tokens + elapsed * per_second)
    stmt = (
        insert(CreationBucket)
        .values(user_id=user_id, tokens=float(burst - cost), updated_at=func.now())
        .on_conflict_do_update(
            index_elements=["user_id"],
            set_={"tokens": refilled - cost, "updated_at": func.now()},
            where=refilled >= cost,
        )
        .returning(CreationBucket.tokens)
    )
    if (await session.execute(stmt)).scalar_one_or_none() is not None:
        return 0.0
    available = (await session.execute(select(refilled).where(CreationBucket.user_id == user_id))).scalar_one()
    return max(0.0, (cost - float(available)) / per_second)


def seconds_until_next_utc_day(now: datetime) -> int:
    """Whole seconds (at least 1) until the next 00:00 UTC."""
    tomorrow = (now.astimezone(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


def month_start(day: date) -> date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


async def reserve_spend(
    session: AsyncSession, project_id: uuid.UUID, period: str, start: date, amount: int, cap: int | None
) -> tuple[bool, int]:
    """Add `amount` micro-dollars to the project's spend of the period (`period` "day" or
    "month" starting `start`) unless that would pass `cap` (None: no cap, always added, so a
    budget set later in the period counts what was spent before it); returns (reserved, spend
    counted afterwards, or before when refused). One upsert on one row; the caller commits at once."""
    stmt = (
        insert(ProjectSpend)
        .values(project_id=project_id, period=period, period_start=start, reserved_micro_usd=amount)
        .on_conflict_do_update(
            index_elements=["project_id", "period", "period_start"],
            set_={"reserved_micro_usd": ProjectSpend.reserved_micro_usd + amount},
            where=None if cap is None else ProjectSpend.reserved_micro_usd + amount <= cap,
        )
        .returning(ProjectSpend.reserved_micro_usd)
    )
    if cap is not None and amount > cap:
        return False, await _spend(session, project_id, period, start)
    total = (await session.execute(stmt)).scalar_one_or_none()
    if total is None:
        return False, await _spend(session, project_id, period, start)
    return True, int(total)


async def release_spend(session: AsyncSession, project_id: uuid.UUID, period: str, start: date, amount: int) -> None:
    """Give back a spend reservation whose task was not created. The caller commits."""
    await session.execute(
        update(ProjectSpend)
        .where(ProjectSpend.project_id == project_id, ProjectSpend.period == period, ProjectSpend.period_start == start)
        .values(reserved_micro_usd=func.greatest(0, ProjectSpend.reserved_micro_usd - amount))
    )


async def _spend(session: AsyncSession, project_id: uuid.UUID, period: str, start: date) -> int:
    stmt = select(ProjectSpend.reserved_micro_usd).where(
        ProjectSpend.project_id == project_id, ProjectSpend.period == period, ProjectSpend.period_start == start
    )
    return int((await session.execute(stmt)).scalar_one_or_none() or 0)
