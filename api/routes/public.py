"""Public assets, served without auth. A private or unknown asset is the same 404."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from api.deps import ResourcesDep, SessionDep
from api.error_responses import NotFound, responses
from db.assets import get_public_asset

router = APIRouter(prefix="/public", tags=["public"])

# How long the presigned URL a public link redirects to stays valid (seconds). Short, so that
# "Make private" or a delete closes the link within a minute even for a client that kept the URL.
PUBLIC_URL_TTL_S = 60

_REDIRECT = {
    "description": "A redirect to a presigned GET URL of the image, valid at most 60 s (not cached).",
    "headers": {"Location": {"description": "the presigned S3 URL", "schema": {"type": "string"}}},
}


@router.get(
    "/assets/{asset_id}",
    status_code=307,
    response_class=RedirectResponse,
    responses={307: _REDIRECT, **responses(404, 503)},
)
async def public_asset(asset_id: uuid.UUID, session: SessionDep, resources: ResourcesDep) -> RedirectResponse:
    """A 307 to a presigned GET of a public asset's image (the bytes never pass through the
    API), valid min(60, PRESIGN_TTL_S) seconds, with `Cache-Control: no-store` so that making
    the asset private or deleting it takes effect at the next request. Private or unknown: 404."""
    asset = await get_public_asset(session, asset_id)
    if asset is None:
        raise NotFound(f"asset {asset_id} not found")
    ttl_s = min(PUBLIC_URL_TTL_S, resources.settings.presign_ttl_s)
    url = await resources.store.presigned_get_url(asset.file_key, ttl_s)
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
