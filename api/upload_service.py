"""Uploads for editing: a presigned PUT straight to S3, then a check with Pillow that registers
the object as an asset of asset_type "upload" (usable as a reference image), or deletes it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from api.asset_view import asset_public
from api.deps import owned_project_or_404
from api.error_responses import AppError, InvalidInput, NotFound
from api.schemas import AssetPublic, UploadCreate, UploadPublic
from api.state import ApiResources
from api.upload_check import UploadRefused, check_upload
from db.assets import get_owned_asset, insert_upload_asset
from db.models import Upload, User
from db.uploads import create_upload, lock_owned_upload
from kernel.object_keys import thumbnail_key, upload_key
from kernel.payloads import ImageRef
from kernel.thumbnails import THUMBNAIL_MIME


class InvalidUpload(AppError):
    """422 `invalid_upload`: the uploaded object is missing, too big or not an acceptable image
    (it has been deleted)."""

    status_code = 422
    code = "invalid_upload"


async def start_upload(
    session: AsyncSession, resources: ApiResources, user: User, project_id: uuid.UUID, body: UploadCreate
) -> UploadPublic:
    """Record an upload into the caller's project and sign its PUT URL (valid UPLOAD_URL_TTL_S
    seconds, `Content-Type` signed). Raises NotFound (another user's or no project) and
    InvalidInput (422) when `byte_size` is over UPLOAD_MAX_BYTES."""
    settings = resources.settings
    await owned_project_or_404(session, user, project_id)
    if body.byte_size > settings.upload_max_bytes:
        raise InvalidInput(f"byte_size: {body.byte_size} bytes is over the limit of {settings.upload_max_bytes} bytes")
    upload_id = uuid.uuid4()
    key = upload_key(str(project_id), str(upload_id), body.content_type)
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.upload_url_ttl_s)
    await create_upload(
        session, upload_id, project_id, user.id, body.filename, key, body.content_type, body.byte_size, expires_at
    )
    put_url = await resources.store.presigned_put_url(key, body.content_type, settings.upload_url_ttl_s)
    return UploadPublic(
        id=upload_id,
        put_url=put_url,
        put_headers={"Content-Type": body.content_type},
        expires_at=expires_at,
        max_bytes=settings.upload_max_bytes,
    )


async def complete_upload(
    session: AsyncSession, resources: ApiResources, user: User, upload_id: uuid.UUID
) -> tuple[AssetPublic, bool]:
    """Check the uploaded object and register it as an asset; returns (its view, True when it
    was created now). Completing again returns the same asset (False). Concurrent completions
    of one upload wait for each other (row lock).

    Raises NotFound (another user's or no upload) and InvalidUpload (422; the object is deleted):
    nothing was uploaded, over UPLOAD_MAX_BYTES, not PNG/JPEG/WebP, not the declared type, over
    UPLOAD_MAX_PIXELS, or not decodable. Storage and database outages propagate (503).
    """
    upload = await lock_owned_upload(session, user.id, upload_id)
    if upload is None:
        raise NotFound(f"upload {upload_id} not found")
    ttl = resources.settings.presign_ttl_s
    if upload.asset_id is not None:
        done = await get_owned_asset(session, user.id, upload.asset_id)
        if done is not None:
            return await asset_public(done, resources.store, ttl), False
    image = await _verified_image(resources, upload)
    metadata = {"upload": {"id": str(upload.id), "filename": upload.filename}}
    asset = await insert_upload_asset(session, upload.project_id, image, metadata)
    upload.asset_id = asset.id
    return await asset_public(asset, resources.store, ttl), True


async def _verified_image(resources: ApiResources, upload: Upload) -> ImageRef:
    """The uploaded object checked with Pillow (in a thread) and its thumbnail written beside it;
    raises InvalidUpload after deleting the object when it is refused."""
    store, settings = resources.store, resources.settings
    found = await store.head(upload.file_key)
    if found is None:
        raise InvalidUpload("nothing was uploaded: PUT the file to put_url with put_headers first")
    try:
        if found.size > settings.upload_max_bytes:
            raise UploadRefused(f"the file is {found.size} bytes; at most {settings.upload_max_bytes} are accepted")
        data = await store.get(upload.file_key)
        checked = await anyio.to_thread.run_sync(check_upload, data, upload.content_type, settings.upload_max_pixels)
    except UploadRefused as exc:
        await store.delete(upload.file_key)
        raise InvalidUpload(str(exc)) from None
    thumb_key = None
    if checked.thumbnail is not None:
        thumb_key = thumbnail_key(upload.file_key)
        await store.put(thumb_key, checked.thumbnail, THUMBNAIL_MIME, {"source-sha256": checked.sha256})
    return ImageRef(
        key=upload.file_key,
        sha256=checked.sha256,
        size=len(data),
        mime=checked.mime,
        width=checked.width,
        height=checked.height,
        thumbnail_key=thumb_key,
    )
