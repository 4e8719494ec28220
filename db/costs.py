"""What images cost: priced when recorded, summed per task and per period.

Prices come from the model catalogue (`kernel.catalog.image_price_micro_usd`: integer
micro-dollars per delivered image by model, image size and mode). Only delivered images are
priced: Google bills image output tokens for an image it returns; a call refused with an error
(4xx, 5xx, 429) is not billed, and a call answered without an image (a safety block, no image)
bills at most its prompt's input tokens, a fraction of a cent that is not tracked here (see
docs/decisions.md "Cost").
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Date, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import RenderedAsset, Task
from kernel.catalog import image_price_micro_usd

log = logging.getLogger(__name__)

UsageGroup = Literal["day", "model", "mode"]


def task_image_price(parameters: dict[str, object]) -> int | None:
    """Price of one image of a task with these stored parameters, integer micro-dollars; None
    when the catalogue no longer prices its model (a retired id)."""
    model = str(parameters.get("model"))
    size = parameters.get("image_size")
    mode = str(parameters.get("mode") or "standard")
    try:
        return image_price_micro_usd(model, str(size) if size else None, mode)
    except KeyError:
        log.warning("no price in the model catalogue for %s %s %s: cost left unknown", model, size, mode)
        return None


@dataclass(frozen=True)
class Priced:
    """Assets priced by one `price_task_assets` call: how many, at what unit price (integer
    micro-dollars), for which model and mode."""

    model: str
    mode: str
    images: int
    unit_micro_usd: int


def worst_case_micro_usd(parameters: dict[str, object]) -> int | None:
    """What a task with these parameters costs if every variation delivers: n x the image
    price, integer micro-dollars; None when the model has no price."""
    price = task_image_price(parameters)
    n = parameters.get("n", 1)
    return None if price is None else price * (n if isinstance(n, int) else 1)


async def price_task_assets(session: AsyncSession, task_id: uuid.UUID) -> Priced | None:
    """Set the cost of the task's recorded assets that have none yet (idempotent: a retried
    record prices nothing twice); what it priced now, or None when the task is unknown or its
    model has no price. The caller commits."""
    parameters = await session.scalar(select(Task.parameters).where(Task.id == task_id))
    price = task_image_price(parameters) if parameters is not None else None
    if parameters is None or price is None:
        return None
    result = await session.execute(
        update(RenderedAsset)
        .where(RenderedAsset.task_id == task_id, RenderedAsset.cost_micro_usd.is_(None))
        .values(cost_micro_usd=price)
    )
    mode = str(parameters.get("mode") or "standard")
    return Priced(str(parameters.get("model")), mode, int(getattr(result, "rowcount", 0) or 0), price)


async def task_costs(session: AsyncSession, task_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Sum of the recorded assets' costs per task, integer micro-dollars (tasks without a
    priced asset are absent)."""
    if not task_ids:
        return {}
    rows = await session.execute(
        select(RenderedAsset.task_id, func.sum(RenderedAsset.cost_micro_usd))
        .where(RenderedAsset.task_id.in_(task_ids), RenderedAsset.cost_micro_usd.is_not(None))
        .group_by(RenderedAsset.task_id)
    )
    return {task_id: int(total or 0) for task_id, total in rows.all() if task_id is not None}


@dataclass(frozen=True)
class UsageRow:
    """Images delivered and their cost (integer micro-dollars) in one group."""

    key: str
    images: int
    cost_micro_usd: int


async def project_usage(
    session: AsyncSession, project_id: uuid.UUID, start: datetime, end: datetime, group_by: UsageGroup
) -> list[UsageRow]:
    """The project's delivered images and their cost between `start` (inclusive) and `end`
    (exclusive), grouped by UTC day of delivery, model or mode; in key order."""
    key: ColumnElement[Any]
    if group_by == "day":
        key = cast(func.timezone("UTC", RenderedAsset.created_at), Date)
    elif group_by == "model":
        key = Task.parameters["model"].astext
    else:
        key = func.coalesce(Task.parameters["mode"].astext, "standard")
    rows = await session.execute(
        select(key.label("key"), func.count(), func.coalesce(func.sum(RenderedAsset.cost_micro_usd), 0))
        .join(Task, Task.id == RenderedAsset.task_id)
        .where(
            RenderedAsset.project_id == project_id,
            RenderedAsset.created_at >= start,
            RenderedAsset.created_at < end,
        )
        .group_by(key)
        .order_by(key)
    )
    return [
        UsageRow(key=value.isoformat() if isinstance(value, date) else str(value), images=n, cost_micro_usd=int(c or 0))
        for value, n, c in rows.all()
    ]
