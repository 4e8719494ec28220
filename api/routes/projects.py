"""/projects: a user's projects."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep, owned_project_or_404
from api.error_responses import InvalidInput, responses
from api.fields import LimitQuery
from api.schemas import Page, ProjectCreate, ProjectPublic, ProjectUpdate
from db.models import Project
from db.pagination import InvalidCursor
from db.projects import create_project, list_owned_projects

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=201, response_model=ProjectPublic, responses=responses(401, 422))
async def create(body: ProjectCreate, session: SessionDep, user: CurrentUser) -> Project:
    """Create a project owned by the caller."""
    kit = body.brand_kit.model_dump() if body.brand_kit else None
    project = await create_project(session, user.id, body.name, body.description, kit, body.daily_image_quota)
    project.daily_budget_micro_usd = body.daily_budget_micro_usd
    project.monthly_budget_micro_usd = body.monthly_budget_micro_usd
    return project


@router.get("", response_model=Page[ProjectPublic], responses=responses(401, 422))
async def list_projects(
    session: SessionDep, user: CurrentUser, cursor: str | None = None, limit: LimitQuery = 50
) -> Page[ProjectPublic]:
    """The caller's projects, newest first."""
    try:
        rows, next_cursor = await list_owned_projects(session, user.id, cursor, limit)
    except InvalidCursor as exc:
        raise InvalidInput(str(exc)) from exc
    return Page(items=[ProjectPublic.model_validate(p) for p in rows], next_cursor=next_cursor)


@router.get("/{project_id}", response_model=ProjectPublic, responses=responses(401, 404))
async def get(project_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Project:
    """One of the caller's projects."""
    return await owned_project_or_404(session, user, project_id)


@router.patch("/{project_id}", response_model=ProjectPublic, responses=responses(401, 404, 422))
async def update(project_id: uuid.UUID, body: ProjectUpdate, session: SessionDep, user: CurrentUser) -> Project:
    """Change name, description, brand kit, daily image quota or budgets (only the fields sent)."""
    project = await owned_project_or_404(session, user, project_id)
    for field in body.model_fields_set:
        value = getattr(body, field)
        setattr(project, field, value.model_dump() if field == "brand_kit" and value is not None else value)
    return project
