"""The project's gallery: thumbnails in a grid, newest first, filtered by state, asset type, task
and visibility, the next page loaded by htmx when the end of the grid scrolls into view. The
lightbox (`static/lightbox.js`) acts through the JSON API."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import ResourcesDep, SessionDep
from api.routes.catalog import list_asset_types
from db.assets import AssetFilters, list_project_assets
from db.models import RenderedAsset
from db.pagination import InvalidCursor
from web.asset_cards import asset_cards
from web.page_errors import PageNotFound, project_page_or_404
from web.session import SignedInDep
from web.templating import render

router = APIRouter()

PAGE_SIZE = 24
STATES = ("draft", "approved", "archived")
VISIBILITIES = ("private", "public")
MAX_FILTER_CHARS = 100
# Plain strings: the filter form submits every field, an unset one as "" (meaning any), and a
# bad value must get the gallery page with a message, not the API's JSON 422.
FilterParam = Annotated[str | None, Query()]


def _filters(
    state: str | None, asset_type: str | None, task_id: str | None, visibility: str | None
) -> tuple[AssetFilters, dict[str, str], str | None]:
    """The gallery's filters from the query: empty or missing fields mean any. Returns the
    filters, the non-empty fields as given (for the form and the next page's link) and a
    message for the user when a value is not valid (state or visibility not one of the
    choices, a task id that is not a UUID, over MAX_FILTER_CHARS characters), else None."""
    given = {"state": state, "asset_type": asset_type, "task_id": task_id, "visibility": visibility}
    kept = {k: v.strip() for k, v in given.items() if v and v.strip()}
    problems = [
        f"{k.replace('_', ' ')} is over {MAX_FILTER_CHARS} characters"
        for k, v in kept.items()
        if len(v) > MAX_FILTER_CHARS
    ]
    for name, choices in (("state", STATES), ("visibility", VISIBILITIES)):
        if name in kept and kept[name] not in choices:
            problems.append(
                f"{name} must be one of {', '.join(choices)} (or any), not '{kept[name][:MAX_FILTER_CHARS]}'"
            )
    task: uuid.UUID | None = None
    if "task_id" in kept:
        try:
            task = uuid.UUID(kept["task_id"])
        except ValueError:
            problems.append(f"task '{kept['task_id'][:MAX_FILTER_CHARS]}' is not a task id (a UUID)")
    filters = AssetFilters(task, kept.get("state"), kept.get("asset_type"), kept.get("visibility"))
    return filters, kept, "; ".join(problems) or None


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
    error: str | None,
) -> Response:
    project = await project_page_or_404(session, signed.user, project_id)
    rows: list[RenderedAsset] = []
    next_cursor: str | None = None
    if error is None:
        try:
            rows, next_cursor = await list_project_assets(session, project.id, filters, cursor, PAGE_SIZE)
        except InvalidCursor as exc:
            raise PageNotFound("page") from exc
    more = f"/projects/{project.id}/gallery/items?{urlencode({**kept, 'cursor': next_cursor})}" if next_cursor else None
    return render(
        request,
        template,
        signed,
        status_code=422 if error else 200,
        error=error,
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
    state: FilterParam = None,
    asset_type: FilterParam = None,
    task_id: FilterParam = None,
    visibility: FilterParam = None,
) -> Response:
    """The first page of the grid, with the filter bar (empty fields mean any). A bad filter
    value gives the page with its message and no tiles (422)."""
    filters, kept, error = _filters(state, asset_type, task_id, visibility)
    return await _page(request, project_id, session, resources, signed, "gallery.html", None, filters, kept, error)


@router.get("/projects/{project_id}/gallery/items")
async def gallery_items(
    project_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    signed: SignedInDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    state: FilterParam = None,
    asset_type: FilterParam = None,
    task_id: FilterParam = None,
    visibility: FilterParam = None,
) -> Response:
    """The next tiles (an htmx fragment) and, when there are more, the sentinel that loads them;
    filters as for the page (a bad value: no tiles, 422)."""
    filters, kept, error = _filters(state, asset_type, task_id, visibility)
    return await _page(
        request, project_id, session, resources, signed, "partials/gallery_items.html", cursor, filters, kept, error
    )
