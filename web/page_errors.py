"""What a page answers instead of the API's JSON: a redirect to sign in, an HTML 404."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from db.assets import get_owned_asset
from db.models import Project, RenderedAsset, Task, User
from db.projects import get_owned_project
from db.tasks import get_owned_task
from web.session import SignInRequired, current_session
from web.templating import render


class PageNotFound(Exception):
    """An unknown page, or another user's project, task or asset (the same 404)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


async def project_page_or_404(session: AsyncSession, user: User, project_id: uuid.UUID) -> Project:
    """The user's project; raises PageNotFound for another user's or an unknown one."""
    project = await get_owned_project(session, user.id, project_id)
    if project is None:
        raise PageNotFound("project")
    return project


async def task_page_or_404(session: AsyncSession, user: User, task_id: uuid.UUID) -> Task:
    """The user's task; raises PageNotFound for another user's or an unknown one."""
    task = await get_owned_task(session, user.id, task_id)
    if task is None:
        raise PageNotFound("task")
    return task


async def asset_page_or_404(session: AsyncSession, user: User, asset_id: uuid.UUID) -> RenderedAsset:
    """The user's asset; raises PageNotFound for another user's or an unknown one."""
    asset = await get_owned_asset(session, user.id, asset_id)
    if asset is None:
        raise PageNotFound("image")
    return asset


def install_page_error_handlers(app: FastAPI) -> None:
    """Register the redirect to /sign-in and the HTML 404 on `app`."""

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/sign-in?next={quote(exc.next_path, safe='/')}", status_code=303)

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, exc: PageNotFound) -> Response:
        resources = request.app.state.resources
        async with resources.sessions() as session:
            signed = await current_session(request, session)
        return render(request, "not_found.html", signed, status_code=404, what=exc.what)
