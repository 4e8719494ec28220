"""An asset's original (for the lightbox), its download (saved as a file, named after its task),
and its lineage as thumbnails."""

from __future__ import annotations

import re
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import ResourcesDep, SessionDep
from db.assets import LineageSide, get_owned_assets, nearest_lineage
from db.models import RenderedAsset
from db.tasks import get_owned_task
from kernel.object_keys import MIME_EXTENSION
from web.asset_cards import AssetCard, asset_cards
from web.page_errors import asset_page_or_404
from web.session import SignedInDep
from web.templating import render

router = APIRouter()

# Thumbnails shown per side of the lineage (the nearest: direct ones first); a popular reference
# can have hundreds of descendants, and each shown one is a row read and a presigned URL.
LINEAGE_SHOWN = 24


@router.get("/assets/{asset_id}/original")
async def original(asset_id: uuid.UUID, session: SessionDep, resources: ResourcesDep, signed: SignedInDep) -> Response:
    """A redirect to the original image's presigned S3 URL (the bytes never pass through here)."""
    asset = await asset_page_or_404(session, signed.user, asset_id)
    url = await resources.store.presigned_get_url(asset.file_key, resources.settings.presign_ttl_s)
    return RedirectResponse(url, status_code=307)


def download_name(asset: RenderedAsset, task_name: str | None) -> str:
    """`<task name>-v<variation>.<ext>` (the name slugged: ASCII letters, digits, dashes, at most
    40), or `upload-<first 8 of the id>.<ext>` for an upload; safe inside a quoted header value."""
    ext = MIME_EXTENSION.get(asset.content_type, "bin")
    if task_name is None or asset.variation_index is None:
        return f"upload-{asset.id.hex[:8]}.{ext}"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", task_name).strip("-").lower()[:40] or "image"
    return f"{slug}-v{asset.variation_index}.{ext}"


@router.get("/assets/{asset_id}/download")
async def download(asset_id: uuid.UUID, session: SessionDep, resources: ResourcesDep, signed: SignedInDep) -> Response:
    """A redirect to a presigned S3 URL that answers the original as an attachment named by
    download_name (the browser saves it). Another user's or an unknown asset: the HTML 404."""
    asset = await asset_page_or_404(session, signed.user, asset_id)
    task = await get_owned_task(session, signed.user.id, asset.task_id) if asset.task_id else None
    name = download_name(asset, task.name if task is not None else None)
    url = await resources.store.presigned_get_url(asset.file_key, resources.settings.presign_ttl_s, download_name=name)
    return RedirectResponse(url, status_code=307)


@router.get("/assets/{asset_id}/lineage")
async def lineage_fragment(
    asset_id: uuid.UUID, request: Request, session: SessionDep, resources: ResourcesDep, signed: SignedInDep
) -> Response:
    """Ancestors (the references it was made from) and descendants as thumbnails (a fragment):
    the LINEAGE_SHOWN nearest of each, and how many more there are. Another user's or an
    unknown asset: the HTML 404."""
    await asset_page_or_404(session, signed.user, asset_id)
    ancestors, descendants = await nearest_lineage(session, asset_id, LINEAGE_SHOWN)

    async def cards(side: LineageSide) -> tuple[list[AssetCard], int]:
        found = await get_owned_assets(session, signed.user.id, [i for i, _ in side.nearest])
        return await asset_cards(found, resources), side.total - len(side.nearest)

    ancestor_cards, more_ancestors = await cards(ancestors)
    descendant_cards, more_descendants = await cards(descendants)
    return render(
        request,
        "partials/lineage.html",
        signed,
        ancestors=ancestor_cards,
        more_ancestors=more_ancestors,
        descendants=descendant_cards,
        more_descendants=more_descendants,
    )
