"""A project's exports (issue 13): the list with each export's status and download link. The
gallery's Export panel (`partials/export_panel.html`, `static/exports.js`) starts one through
the JSON API with the gallery's filters and follows it live; this page lists them all."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import ResourcesDep, SessionDep
from api.export_view import exports_public
from db.exports import list_project_exports
from web.page_errors import project_page_or_404
from web.session import SignedInDep
from web.templating import render

router = APIRouter()

EXPORTS_SHOWN = 50


@router.get("/projects/{project_id}/exports")
async def exports_page(
    project_id: uuid.UUID, request: Request, session: SessionDep, resources: ResourcesDep, signed: SignedInDep
) -> Response:
    """The project's newest exports: format, images, status (followed live while running),
    size and the download link."""
    project = await project_page_or_404(session, signed.user, project_id)
    rows, _ = await list_project_exports(session, project.id, None, EXPORTS_SHOWN)
    exports = await exports_public(rows, resources.temporal, resources.settings, resources.store)
    return render(request, "exports.html", signed, project=project, exports=exports)
