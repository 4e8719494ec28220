"""Uploads for editing: sign a PUT straight to S3, then complete it into an asset."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import CurrentUser, ResourcesDep, SessionDep
from api.error_responses import responses
from api.schemas import AssetPublic, UploadCreate, UploadPublic
from api.upload_service import complete_upload, start_upload

router = APIRouter(tags=["uploads"])


@router.post(
    "/projects/{project_id}/uploads",
    status_code=201,
    response_model=UploadPublic,
    responses=responses(401, 404, 422),
)
async def create_upload(
    project_id: uuid.UUID, body: UploadCreate, session: SessionDep, user: CurrentUser, resources: ResourcesDep
) -> UploadPublic:
    """Start an upload of a PNG, JPEG or WebP image (at most UPLOAD_MAX_BYTES): PUT the bytes to
    `put_url` with exactly `put_headers` before `expires_at`, then `POST /uploads/{id}/complete`."""
    return await start_upload(session, resources, user, project_id, body)


@router.post(
    "/uploads/{upload_id}/complete",
    status_code=201,
    response_model=AssetPublic,
    responses={**responses(401, 404, 422, 503), 200: {"model": AssetPublic, "description": "already completed"}},
)
async def complete(
    upload_id: uuid.UUID, response: Response, session: SessionDep, user: CurrentUser, resources: ResourcesDep
) -> AssetPublic:
    """Check the uploaded file with Pillow (the declared type, at most UPLOAD_MAX_BYTES and
    UPLOAD_MAX_PIXELS, fully decodable) and register it as an asset of asset_type "upload" with
    its thumbnail: 201. Completing again returns the same asset: 200. A refused file is deleted:
    422 `invalid_upload` with the reason."""
    asset, created = await complete_upload(session, resources, user, upload_id)
    if not created:
        response.status_code = 200
    return asset
