"""An asset's original (for the lightbox and download) and its lineage as thumbnails."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import ResourcesDep, SessionDep
from db.assets import get_owned_asset, lineage
from web.asset_cards import AssetCard, asset_card
from web.page_errors import asset_page_or_404
from web.session import SignedInDep
from web.templating import render

router = APIRouter()


@router.get("/assets/{asset_id}/original")
async def original(asset_id: uuid.UUID, session: SessionDep, resources: ResourcesDep, signed: SignedInDep) -> Response:
    """A redirect to the original image's presigned S3 URL (the bytes never pass through here)."""
    asset = await asset_page_or_404(session, signed.user, asset_id)
    url = await resources.store.presigned_get_url(asset.file_key, resources.settings.presign_ttl_s)
    return RedirectResponse(url, status_code=307)


@router.get("/assets/{asset_id}/lineage")
async def lineage_fragment(
    asset_id: uuid.UUID, request: Request, session: SessionDep, resources: ResourcesDep, signed: SignedInDep
) -> Response:
    """Ancestors (the references it was made from) and descendants, as thumbnails (a fragment)."""
    await asset_page_or_404(session, signed.user, asset_id)
    ancestors, descendants = await lineage(session, asset_id)

    async def cards(pairs: list[tuple[uuid.UUID, int]]) -> list[AssetCard]:
        found = [await get_owned_asset(session, signed.user.id, i) for i, _ in pairs]
        return [await asset_card(a, resources) for a in found if a is not None]

    return render(
        request,
        "partials/lineage.html",
        signed,
        ancestors=await cards(ancestors),
        descendants=await cards(descendants),
    )
