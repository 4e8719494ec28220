"""The fleet's model calls of the last minute, one row per call: a sliding window shared by every
worker, so no worker calls a model past its per-minute quota (`activities/call_window.py`).

Google counts a model's image quota per Cloud project over a sliding minute (GEMINI.md, "429
RESOURCE_EXHAUSTED"); the task queues' dispatch rate paces calls at that quota, and this window
catches what a rate limiter lets through in bursts. Rows older than the window are deleted by
the next admission of the same model, so the table holds at most about one window of calls.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import BigInteger, Column, DateTime, Index, String, Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Base

# pg_advisory_xact_lock(namespace, key): this namespace is ours (any int4 unused elsewhere).
_LOCK_NAMESPACE = 0x4D43  # "MC"

model_call_window = Table(
    "model_call_window",
    Base.metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("model", String(100), nullable=False),
    Column("called_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_model_call_window_model_called_at", "model", "called_at"),
)


async def admit_model_call(session: AsyncSession, model: str, per_window: int, window: timedelta) -> float:
    """Record a call of `model` now, unless `per_window` calls were recorded within the last
    `window`; returns 0.0 when recorded, else the seconds until the oldest of those leaves the
    window (> 0). Calls of one model are admitted one at a time (a transaction-scoped advisory
    lock); the time is Postgres's, one clock for the fleet. The caller commits at once."""
    await session.execute(select(func.pg_advisory_xact_lock(_LOCK_NAMESPACE, func.hashtext(model))))
    # The time now, after the lock: `now()` is the transaction's start, before any wait for it.
    now = (await session.execute(select(func.clock_timestamp()))).scalar_one()
    t = model_call_window.c
    await session.execute(delete(model_call_window).where(t.model == model, t.called_at <= now - window))
    full_since = (
        await session.execute(
            select(t.called_at)
            .where(t.model == model, t.called_at > now - window)
            .order_by(t.called_at.desc())
            .offset(per_window - 1)
            .limit(1)
        )
    ).scalar_one_or_none()
    if full_since is not None:
        return max((full_since + window - now).total_seconds(), 0.001)
    await session.execute(insert(model_call_window).values(model=model, called_at=now))
    return 0.0
