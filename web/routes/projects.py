"""Projects: the list (and create), one project's settings (rename, brand kit, daily quota with
today's usage). Changes go through the JSON API from the page (`studio.js`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import ResourcesDep, SessionDep
from db.projects import list_owned_projects
from db.usage import images_of_day, utc_day
from web.page_errors import project_page_or_404
from web.session import SignedInDep
from web.templating import render

router = APIRouter()

PROJECTS_SHOWN = 200


@router.get("/projects")
async def projects_page(request: Request, session: SessionDep, signed: SignedInDep) -> Response:
    """The user's projects, newest first, and a form to create one."""
    projects, _ = await list_owned_projects(session, signed.user.id, None, PROJECTS_SHOWN)
    return render(request, "projects.html", signed, projects=projects)


@router.get("/projects/{project_id}")
async def project_page(
    project_id: uuid.UUID, request: Request, session: SessionDep, resources: ResourcesDep, signed: SignedInDep
) -> Response:
    """One project: rename, brand kit editor, daily image quota and today's usage (UTC day)."""
    project = await project_page_or_404(session, signed.user, project_id)
    used = await images_of_day(session, project.id, utc_day(datetime.now(UTC)))
    quota = project.daily_image_quota if project.daily_image_quota is not None else resources.settings.daily_image_quota
    kit = project.brand_kit or {}
    return render(
        request,
        "project.html",
        signed,
        project=project,
        kit=kit,
        used_today=used,
        quota=quota,
        quota_is_default=project.daily_image_quota is None,
    )
