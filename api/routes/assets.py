"""Rendered assets, each with a presigned download URL."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import CurrentUser, ResourcesDep, SessionDep
from api.errors import InvalidInput, NotFound, responses
from api.routes.projects import LimitQuery, owned_project_or_404
from api.schemas import AssetPublic, Page
from db.assets import get_owned_asset, list_project_assets
from db.models import RenderedAsset
from db.pagination import InvalidCursor

router = APIRouter(tags=["rendered-assets"])


async def _public(asset: RenderedAsset, resources: ResourcesDep) -> AssetPublic:
    ttl = resources.settings.presign_ttl_s
    url = await resources.store.presigned_get_url(asset.file_key, ttl)
    return AssetPublic.model_validate({**asset.__dict__, "url": url, "url_expires_in_s": ttl})


@router.get(
    "/projects/{project_id}/rendered-assets", response_model=Page[AssetPublic], responses=responses(401, 404, 422)
)
async def list_assets(
    project_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    resources: ResourcesDep,
    task_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: LimitQuery = 50,
) -> Page[AssetPublic]:
    """The project's assets (optionally of one task), newest first."""
    await owned_project_or_404(session, user, project_id)
    try:
        rows, next_cursor = await list_project_assets(session, project_id, task_id, cursor, limit)
    except InvalidCursor as exc:
        raise InvalidInput(str(exc)) from exc
    return Page(items=[await _public(a, resources) for a in rows], next_cursor=next_cursor)


@router.get("/rendered-assets/{asset_id}", response_model=AssetPublic, responses=responses(401, 404))
async def get_asset(
    asset_id: uuid.UUID, session: SessionDep, user: CurrentUser, resources: ResourcesDep
) -> AssetPublic:
    """One asset of the caller's."""
    asset = await get_owned_asset(session, user.id, asset_id)
    if asset is None:
        raise NotFound(f"rendered asset {asset_id} not found")
    return await _public(asset, resources)
