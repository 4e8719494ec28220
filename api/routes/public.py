"""Public assets, served without auth. A private or unknown asset is the same 404."""

from __future__ import annotations

import uuid

from botocore.exceptions import ClientError
from fastapi import APIRouter, Response

from api.deps import ResourcesDep, SessionDep
from api.error_responses import NotFound, responses
from db.assets import get_public_asset

router = APIRouter(prefix="/public", tags=["public"])


@router.get(
    "/assets/{asset_id}",
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}, **responses(404, 503)},
    response_class=Response,
)
async def public_asset(asset_id: uuid.UUID, session: SessionDep, resources: ResourcesDep) -> Response:
    """The image bytes of a public asset, with its sha256 as ETag."""
    asset = await get_public_asset(session, asset_id)
    if asset is None:
        raise NotFound(f"asset {asset_id} not found")
    try:
        data = await resources.store.get(asset.file_key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise  # S3 trouble: a 503 from the error handlers
        raise NotFound(f"asset {asset_id} has no stored image") from exc
    headers = {"ETag": f'"{asset.sha256}"', "Cache-Control": "public, max-age=300"}
    return Response(data, media_type=asset.content_type, headers=headers)
