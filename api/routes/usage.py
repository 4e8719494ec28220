"""`GET /projects/{id}/usage`: images delivered and what they cost, by day, model or mode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentUser, SessionDep, owned_project_or_404
from api.error_responses import InvalidInput, responses
from api.fields import Timestamp
from api.schemas import Cost
from db.costs import project_usage

router = APIRouter(prefix="/projects", tags=["usage"])


class UsageGroupPublic(BaseModel):
    """One group of a usage report: its key (a UTC date, a model id or a mode), the images
    delivered in it and what they cost."""

    key: str
    images: int
    cost: Cost


class UsagePublic(BaseModel):
    """A project's usage between `from` (inclusive) and `to` (exclusive), grouped, with the
    total. Only delivered images are billed (see the README's "What does it cost?")."""

    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    group_by: str
    items: list[UsageGroupPublic]
    total: UsageGroupPublic


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@router.get("/{project_id}/usage", response_model=UsagePublic, responses=responses(401, 404, 422, 503))
async def usage(
    project_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    from_: Annotated[Timestamp | None, Query(alias="from", description="default: 00:00 UTC on the 1st")] = None,
    to: Annotated[Timestamp | None, Query(description="default: now")] = None,
    group_by: Literal["day", "model", "mode"] = "day",
) -> UsagePublic:
    """Images delivered by the project's tasks and their cost (integer micro-dollars and exact
    USD), grouped by UTC day, model or mode (standard | batch), between `from` and `to`."""
    await owned_project_or_404(session, user, project_id)
    now = datetime.now(UTC)
    start, end = from_ or _month_start(now), to or now
    if end <= start:
        raise InvalidInput("`to` must be after `from`")
    rows = await project_usage(session, project_id, start, end, group_by)
    items = [UsageGroupPublic(key=r.key, images=r.images, cost=Cost.exact(r.cost_micro_usd)) for r in rows]
    total = UsageGroupPublic(
        key="total", images=sum(r.images for r in rows), cost=Cost.exact(sum(r.cost_micro_usd for r in rows))
    )
    return UsagePublic(from_=start, to=end, group_by=group_by, items=items, total=total)
