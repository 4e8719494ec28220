"""The project's gallery: thumbnails in a grid, newest first, filtered by state, asset type, task
and visibility, the next page loaded by htmx when the end of the grid scrolls into view. The
lightbox (`static/lightbox.js`) acts through the JSON API."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import ResourcesDep, SessionDep
from api.routes.catalog import list_asset_types
from db.assets import AssetFilters, list_project_assets
from db.pagination import InvalidCursor
from web.asset_cards import asset_cards
from web.page_errors import PageNotFound, project_page_or_404
from web.session import SignedInDep
from web.templating import render

router = APIRouter()

PAGE_SIZE = 24
StateFilter = Annotated[Literal["draft", "approved", "archived"] | None, Query()]
VisibilityFilter = Annotated[Literal["private", "public"] | None, Query()]
AssetTypeFilter = Annotated[str | None, Query(max_length=100)]


def _filters(
    state: str | None, asset_type: str | None, task_id: uuid.UUID | None, visibility: str | None
) -> tuple[AssetFilters, dict[str, str]]:
    query = {"state": state, "asset_type": asset_type, "task_id": task_id, "visibility": visibility}
    kept = {k: str(v) for k, v in query.items() if v}
    return AssetFilters(task_id, state, asset_type or None, visibility), kept


async def _page(
    request: Request,
    project_id: uuid.UUID,
    session: SessionDep,
    resources: ResourcesDep,
    signed: SignedInDep,
    template: str,
    cursor: str | None,
    filters: AssetFilters,
    kept: dict[str, str],
) -> Response:
    project = await project_page_or_404(session, signed.user, project_id)
    try:
        rows, next_cursor = await list_project_assets(session, project.id, filters, cursor, PAGE_SIZE)
    except InvalidCursor as exc:
        raise PageNotFound("page") from exc
    more = f"/projects/{project.id}/gallery/items?{urlencode({**kept, 'cursor': next_cursor})}" if next_cursor else None
    return render(
        request,
        template,
        signed,
        project=project,
        cards=await asset_cards(rows, resources),
        more_url=more,
        filters=kept,
        asset_types=[t.name for t in await list_asset_types()] + ["upload"],
        public_base=str(request.base_url).rstrip("/"),
    )


@router.get("/projects/{project_id}/gallery")
async def gallery_page(
    project_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    signed: SignedInDep,
    state: StateFilter = None,
    asset_type: AssetTypeFilter = None,
    task_id: uuid.UUID | None = None,
    visibility: VisibilityFilter = None,
) -> Response:
    """The first page of the grid, with the filter bar."""
    filters, kept = _filters(state, asset_type, task_id, visibility)
    return await _page(request, project_id, session, resources, signed, "gallery.html", None, filters, kept)


@router.get("/projects/{project_id}/gallery/items")
async def gallery_items(
    project_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    signed: SignedInDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    state: StateFilter = None,
    asset_type: AssetTypeFilter = None,
    task_id: uuid.UUID | None = None,
    visibility: VisibilityFilter = None,
) -> Response:
    """The next tiles (an htmx fragment) and, when there are more, the sentinel that loads them."""
    filters, kept = _filters(state, asset_type, task_id, visibility)
    return await _page(
        request, project_id, session, resources, signed, "partials/gallery_items.html", cursor, filters, kept
    )
