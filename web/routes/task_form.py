"""The create form: prompt, model, aspect ratio, image size, n, asset type (with its exact output
size), reference images (picked from the gallery or uploaded), review on or off. `Remix` and
`Use as reference` open it prefilled. The browser posts the JSON body to the API itself, so the
API's validation and messages apply unchanged."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import ResourcesDep, SessionDep
from api.routes.catalog import list_asset_types, list_models
from db.assets import AssetFilters, get_owned_asset, list_project_assets
from db.tasks import get_owned_task
from web.asset_cards import asset_cards
from web.page_errors import project_page_or_404
from web.session import SignedInDep
from web.templating import render

router = APIRouter()

REFERENCE_CHOICES = 48


@router.get("/projects/{project_id}/create")
async def create_page(
    project_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    signed: SignedInDep,
    remix: uuid.UUID | None = None,
    ref: Annotated[list[uuid.UUID], Query()] = [],  # noqa: B006 (FastAPI copies query defaults)
) -> Response:
    """The form, prefilled from `remix` (an asset: its task's prompt and parameters) and with the
    `ref` assets ticked as reference images."""
    project = await project_page_or_404(session, signed.user, project_id)
    prefill: dict[str, Any] = {}
    if remix is not None:
        asset = await get_owned_asset(session, signed.user.id, remix)
        task = await get_owned_task(session, signed.user.id, asset.task_id) if asset and asset.task_id else None
        if task is not None:
            prefill = {"name": f"{task.name} (remix)", "prompt": task.prompt, **task.parameters}
    selected = {str(r) for r in ref} | set(prefill.get("reference_asset_ids") or [])
    rows, _ = await list_project_assets(session, project.id, AssetFilters(), None, REFERENCE_CHOICES)
    # Picked references first, even when older than the page of choices.
    missing = [uuid.UUID(s) for s in selected if all(str(r.id) != s for r in rows)]
    extra = [a for a in [await get_owned_asset(session, signed.user.id, i) for i in missing] if a is not None]
    choices = await asset_cards([*extra, *rows], resources)
    return render(
        request,
        "create.html",
        signed,
        project=project,
        models=await list_models(),
        asset_types=await list_asset_types(),
        prefill=prefill,
        selected=selected,
        choices=choices,
        remix=remix,
    )
