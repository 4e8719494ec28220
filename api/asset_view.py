"""The JSON view of an asset: its row plus presigned GET URLs of the image and its thumbnail."""

from __future__ import annotations

from api.schemas import AssetPublic, Cost
from clients.object_store import ObjectStore
from db.models import RenderedAsset


async def asset_public(asset: RenderedAsset, store: ObjectStore, ttl_s: int) -> AssetPublic:
    """The API view of `asset`: `url` and `thumbnail_url` (None when it has no thumbnail yet)
    are presigned GET URLs valid `ttl_s` seconds (signed locally, no request to S3)."""
    url = await store.presigned_get_url(asset.file_key, ttl_s)
    thumbnail_url = await store.presigned_get_url(asset.thumbnail_key, ttl_s) if asset.thumbnail_key else None
    return AssetPublic.model_validate(
        {
            **asset.__dict__,
            "url": url,
            "url_expires_in_s": ttl_s,
            "thumbnail_url": thumbnail_url,
            "cost": Cost.of(asset.cost_micro_usd),
        }
    )
