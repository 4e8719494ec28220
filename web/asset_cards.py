"""What a page shows of an asset: a card with its thumbnail's presigned URL (never the
original's: a 4K PNG is tens of MB) or None when the asset has no thumbnail yet."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from api.state import ApiResources
from db.models import RenderedAsset


@dataclass(frozen=True)
class AssetCard:
    """An asset as a tile: `thumbnail_url` is a presigned GET of its <= 512 px WebP, or None."""

    id: uuid.UUID
    project_id: uuid.UUID
    task_id: uuid.UUID | None
    variation_index: int | None
    label: str
    state: str
    visibility: str
    asset_type: str
    width: int
    height: int
    thumbnail_url: str | None
    created_at: datetime


def asset_label(asset: RenderedAsset) -> str:
    """The asset's prompt as the user wrote it (alt text), or the uploaded file's name."""
    meta = asset.metadata_ or {}
    upload = meta.get("upload") or {}
    return str(meta.get("user_prompt") or upload.get("filename") or meta.get("prompt") or asset.asset_type)


async def asset_card(asset: RenderedAsset, resources: ApiResources) -> AssetCard:
    """The card of `asset`, with a thumbnail URL valid PRESIGN_TTL_S seconds when it has one."""
    thumbnail_url = None
    if asset.thumbnail_key:
        thumbnail_url = await resources.store.presigned_get_url(asset.thumbnail_key, resources.settings.presign_ttl_s)
    return AssetCard(
        id=asset.id,
        project_id=asset.project_id,
        task_id=asset.task_id,
        variation_index=asset.variation_index,
        label=asset_label(asset),
        state=asset.state,
        visibility=asset.visibility,
        asset_type=asset.asset_type,
        width=asset.width,
        height=asset.height,
        thumbnail_url=thumbnail_url,
        created_at=asset.created_at,
    )


async def asset_cards(assets: list[RenderedAsset], resources: ApiResources) -> list[AssetCard]:
    """Cards of `assets`, in order."""
    return [await asset_card(a, resources) for a in assets]
