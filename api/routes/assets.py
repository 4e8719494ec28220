"""Rendered assets: list, read, change state/visibility, delete; each with presigned URLs of the
image and its thumbnail."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.asset_view import asset_public as asset_view
from api.deps import CurrentUser, ResourcesDep, SessionDep, owned_project_or_404
from api.error_responses import InvalidInput, NotFound, responses
from api.fields import LimitQuery, Timestamp
from api.schemas import AssetPublic, AssetUpdate, LineageEntry, LineagePublic, Page
from db.assets import AssetFilters, delete_asset, get_owned_asset, lineage, list_project_assets
from db.models import RenderedAsset
from db.pagination import InvalidCursor
from kernel.user_text import SingleLine

router = APIRouter(tags=["rendered-assets"])


async def asset_public(asset: RenderedAsset, resources: ResourcesDep) -> AssetPublic:
    """The API view of an asset, with presigned GET URLs valid PRESIGN_TTL_S seconds."""
    return await asset_view(asset, resources.store, resources.settings.presign_ttl_s)


async def _owned_asset_or_404(session: SessionDep, user: CurrentUser, asset_id: uuid.UUID) -> RenderedAsset:
    asset = await get_owned_asset(session, user.id, asset_id)
    if asset is None:
        raise NotFound(f"rendered asset {asset_id} not found")
    return asset


@router.get(
    "/projects/{project_id}/rendered-assets", response_model=Page[AssetPublic], responses=responses(401, 404, 422)
)
async def list_assets(
    project_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    resources: ResourcesDep,
    task_id: uuid.UUID | None = None,
    state: Literal["draft", "approved", "archived"] | None = None,
    asset_type: Annotated[SingleLine | None, Query(max_length=100)] = None,
    visibility: Literal["private", "public"] | None = None,
    created_after: Timestamp | None = None,
    created_before: Timestamp | None = None,
    cursor: str | None = None,
    limit: LimitQuery = 50,
) -> Page[AssetPublic]:
    """The project's assets matching the filters, newest first."""
    await owned_project_or_404(session, user, project_id)
    filters = AssetFilters(task_id, state, asset_type, visibility, created_after, created_before)
    try:
        rows, next_cursor = await list_project_assets(session, project_id, filters, cursor, limit)
    except InvalidCursor as exc:
        raise InvalidInput(str(exc)) from exc
    return Page(items=[await asset_public(a, resources) for a in rows], next_cursor=next_cursor)


@router.get("/rendered-assets/{asset_id}", response_model=AssetPublic, responses=responses(401, 404))
async def get_asset(
    asset_id: uuid.UUID, session: SessionDep, user: CurrentUser, resources: ResourcesDep
) -> AssetPublic:
    """One asset of the caller's."""
    return await asset_public(await _owned_asset_or_404(session, user, asset_id), resources)


@router.patch("/rendered-assets/{asset_id}", response_model=AssetPublic, responses=responses(401, 404, 422))
async def update_asset(
    asset_id: uuid.UUID, body: AssetUpdate, session: SessionDep, user: CurrentUser, resources: ResourcesDep
) -> AssetPublic:
    """Change `state` (draft | approved | archived) and/or `visibility` (private | public).
    A public asset is served without auth at `GET /public/assets/{id}`."""
    asset = await _owned_asset_or_404(session, user, asset_id)
    for field in body.model_fields_set:
        setattr(asset, field, getattr(body, field))
    return await asset_public(asset, resources)


@router.delete("/rendered-assets/{asset_id}", status_code=204, responses=responses(401, 404, 503))
async def remove_asset(
    asset_id: uuid.UUID, session: SessionDep, user: CurrentUser, resources: ResourcesDep
) -> Response:
    """Delete the asset's S3 objects (image and thumbnail), then its row. If S3 is down nothing
    changes (503); a retry after a later failure finishes the job (deleting a missing object
    succeeds)."""
    asset = await _owned_asset_or_404(session, user, asset_id)
    if asset.thumbnail_key:
        await resources.store.delete(asset.thumbnail_key)
    await resources.store.delete(asset.file_key)
    await delete_asset(session, asset.id)
    return Response(status_code=204)


@router.get("/rendered-assets/{asset_id}/lineage", response_model=LineagePublic, responses=responses(401, 404))
async def asset_lineage(asset_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> LineagePublic:
    """Ancestors (the reference images it was made from, and theirs) and descendants."""
    await _owned_asset_or_404(session, user, asset_id)
    ancestors, descendants = await lineage(session, asset_id)
    return LineagePublic(
        asset_id=asset_id,
        ancestors=[LineageEntry(id=i, depth=d) for i, d in ancestors],
        descendants=[LineageEntry(id=i, depth=d) for i, d in descendants],
    )
