"""Limits that protect the bill, all checked before any workflow starts: a per-user token
bucket of task creations and a per-project daily image quota, both counters in Postgres keyed
by the authenticated user and project (never by a client-supplied header), each one upsert on
one row, so a creation costs O(1) however busy the day.

The quota is *reserved* in its own short transaction, committed at once, and given back if the
task is then not created: no lock is held across the Temporal start, so creations of one
project run in parallel. An API process that dies between reserving and creating leaves the
reservation counted (conservative: the day's quota is short by those images).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from api.error_responses import InvalidInput, TooManyRequests
from clients.settings import Settings
from db.models import Project, User
from db.session import SessionFactory
from db.usage import (
    month_start,
    release_daily_images,
    release_spend,
    reserve_daily_images,
    reserve_spend,
    seconds_until_next_utc_day,
    take_creation_tokens,
    utc_day,
)


async def enforce_creation_rate(session: AsyncSession, user: User, settings: Settings, cost: int = 1) -> None:
    """Take `cost` creations from the user's token bucket (TASK_CREATE_BURST at once, refilled
    at TASK_CREATE_RATE_PER_MINUTE) and commit (the attempt counts even if the creation then
    fails). Raises TooManyRequests (429, Retry-After) when the bucket is short, InvalidInput
    (422) for a batch larger than the whole bucket."""
    if cost > settings.task_create_burst:
        raise InvalidInput(f"at most {settings.task_create_burst} tasks can be created at once")
    wait_s = await take_creation_tokens(
        session, user.id, cost, settings.task_create_rate_per_minute / 60.0, settings.task_create_burst
    )
    await session.commit()
    if wait_s > 0:
        raise TooManyRequests(
            f"rate limit: {settings.task_create_burst} task creations at once, then "
            f"{settings.task_create_rate_per_minute} per minute",
            retry_after_s=max(1, math.ceil(wait_s)),
            code="rate_limited",
        )


@dataclass
class ImageReservation:
    """`n` images counted against a project's quota for `day`; `release()` gives them back."""

    sessions: SessionFactory
    project_id: uuid.UUID
    day: date
    n: int
    released: bool = False

    async def release(self) -> None:
        """Give the images back (idempotent)."""
        if not self.released:
            async with self.sessions() as session, session.begin():
                await release_daily_images(session, self.project_id, self.day, self.n)
            self.released = True


async def reserve_daily_images_or_429(
    sessions: SessionFactory, project: Project, n: int, settings: Settings
) -> ImageReservation:
    """Count `n` images against the project's daily quota (project.daily_image_quota, else
    DAILY_IMAGE_QUOTA) in a transaction of its own; raises TooManyRequests (429
    `quota_exceeded`, Retry-After until 00:00 UTC) when they do not fit."""
    quota = project.daily_image_quota if project.daily_image_quota is not None else settings.daily_image_quota
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        reserved, used = await reserve_daily_images(session, project.id, utc_day(now), n, quota)
    if not reserved:
        raise TooManyRequests(
            f"daily image quota of project reached: {used} of {quota} images used today (UTC), {n} requested",
            retry_after_s=seconds_until_next_utc_day(now),
            code="quota_exceeded",
        )
    return ImageReservation(sessions, project.id, utc_day(now), n)


@dataclass
class SpendReservation:
    """`amount` micro-dollars counted against a project's budgets (the day's and the month's
    rows, those that have a cap); `release()` gives them back."""

    sessions: SessionFactory
    project_id: uuid.UUID
    periods: list[tuple[str, date]]
    amount: int
    released: bool = False

    async def release(self) -> None:
        """Give the amount back (idempotent)."""
        if not self.released and self.periods:
            async with self.sessions() as session, session.begin():
                for period, start in self.periods:
                    await release_spend(session, self.project_id, period, start, self.amount)
        self.released = True


def _usd(micro_usd: int) -> str:
    return f"${Decimal(micro_usd).scaleb(-6):f}"


async def reserve_budget_or_429(sessions: SessionFactory, project: Project, amount: int | None) -> SpendReservation:
    """Count a task's worst-case cost (`amount`, integer micro-dollars; None: unpriced, counted
    as 0) against the project's daily and monthly budgets, in one transaction of its own (both
    or neither; the rows stay locked only until it commits, so concurrent creations cannot
    overshoot). Raises TooManyRequests (429 `budget_exceeded`, Retry-After until the period
    ends) naming the budget, what is spent and what this task would cost."""
    now = datetime.now(UTC)
    today = utc_day(now)
    caps = [
        ("day", today, project.daily_budget_micro_usd),
        ("month", month_start(today), project.monthly_budget_micro_usd),
    ]
    cost = amount or 0
    if cost == 0:
        return SpendReservation(sessions, project.id, [], cost)
    # Both periods are counted even without a cap, so a budget set later in a period starts
    # from what the period has already spent, not from zero.
    async with sessions() as session, session.begin():
        for period, start, cap in caps:
            reserved, spent = await reserve_spend(session, project.id, period, start, cost, cap)
            if not reserved:  # raising rolls the transaction back: neither period is counted
                assert cap is not None  # an uncapped period always reserves
                retry_after = seconds_until_next_utc_day(now) if period == "day" else _seconds_to_next_month(now)
                raise TooManyRequests(
                    f"the project's {'daily' if period == 'day' else 'monthly'} budget of {_usd(cap)} would be "
                    f"passed: {_usd(spent)} reserved by tasks created this {period} (UTC), this task costs up "
                    f"to {_usd(cost)}",
                    retry_after_s=retry_after,
                    code="budget_exceeded",
                )
    return SpendReservation(sessions, project.id, [(p, s) for p, s, _ in caps], cost)


def _seconds_to_next_month(now: datetime) -> int:
    first = month_start(utc_day(now))
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return max(1, math.ceil((datetime.combine(following, datetime.min.time(), tzinfo=UTC) - now).total_seconds()))
