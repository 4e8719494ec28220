"""Exports (issue 13): create (starts an `ExportWorkflow`), list, read (status derived from the
workflow, download link once finished), cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response

from api import export_service, task_service
from api.deps import CurrentUser, ResourcesDep, SessionDep, owned_export_or_404, owned_project_or_404
from api.error_responses import InvalidInput, responses
from api.export_schemas import ExportCreate, ExportPublic
from api.export_status import ExportState, export_state
from api.export_view import export_public, exports_public
from api.fields import LimitQuery
from api.limits import enforce_creation_rate
from api.schemas import Page
from db.exports import list_project_exports
from db.pagination import InvalidCursor
from kernel.user_text import SingleLine

router = APIRouter(tags=["exports"])

ExportIdempotencyKey = Annotated[
    SingleLine | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retry-safe creation: the same key and body return the same export (200).",
    ),
]


@router.post(
    "/projects/{project_id}/exports",
    status_code=202,
    response_model=ExportPublic,
    responses={
        200: {"model": ExportPublic, "description": "the export this Idempotency-Key created"},
        **responses(401, 404, 413, 422, 429, 503),
    },
)
async def create_export(
    project_id: uuid.UUID,
    body: ExportCreate,
    session: SessionDep,
    user: CurrentUser,
    resources: ResourcesDep,
    response: Response,
    idempotency_key: ExportIdempotencyKey = None,
) -> ExportPublic:
    """Start an export of the project's assets (202): `zip` (originals and manifests), `contact_sheet`
    (one PNG grid) or `mp4` (a slideshow). Poll `GET /exports/{id}` for progress and, once
    `succeeded`, its download `url`, `size` and `sha256`. Counts against the task creation rate."""
    project = await owned_project_or_404(session, user, project_id)
    await enforce_creation_rate(session, user, resources.settings)
    result = await export_service.create_export(
        session, resources.temporal, resources.settings, user.id, project, body, idempotency_key
    )
    if not result.created:
        response.status_code = 200
        state = await export_state(resources.temporal, result.export)
    else:
        state = ExportState(status="queued")
    return await export_public(result.export, state, resources.settings, resources.store)


@router.get(
    "/projects/{project_id}/exports", response_model=Page[ExportPublic], responses=responses(401, 404, 422, 503)
)
async def list_exports(
    project_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    resources: ResourcesDep,
    cursor: str | None = None,
    limit: LimitQuery = 20,
) -> Page[ExportPublic]:
    """The project's exports, newest first, with their status."""
    await owned_project_or_404(session, user, project_id)
    try:
        rows, next_cursor = await list_project_exports(session, project_id, cursor, limit)
    except InvalidCursor as exc:
        raise InvalidInput(str(exc)) from exc
    items = await exports_public(rows, resources.temporal, resources.settings, resources.store)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/exports/{export_id}", response_model=ExportPublic, responses=responses(401, 404, 503))
async def get_export(
    export_id: uuid.UUID, session: SessionDep, user: CurrentUser, resources: ResourcesDep
) -> ExportPublic:
    """One export: status, progress (images done of total) and, once succeeded, the presigned
    download `url` with the file's `size` (bytes) and `sha256`."""
    export = await owned_export_or_404(session, user, export_id)
    state = await export_state(resources.temporal, export)
    return await export_public(export, state, resources.settings, resources.store)


@router.post(
    "/exports/{export_id}/cancel", status_code=202, response_model=ExportPublic, responses=responses(401, 404, 409, 503)
)
async def cancel_export(
    export_id: uuid.UUID, session: SessionDep, user: CurrentUser, resources: ResourcesDep
) -> ExportPublic:
    """Cancel a running export: the build stops (through its heartbeat), any partial upload is
    aborted and nothing is left in S3. 409 when it already finished."""
    export = await owned_export_or_404(session, user, export_id)
    await task_service.cancel_task(resources.temporal, export.workflow_id, what="export")
    state = await export_state(resources.temporal, export)
    return await export_public(export, state, resources.settings, resources.store)
