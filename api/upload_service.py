"""Uploads for editing: a presigned PUT straight to S3, then a check with Pillow that registers
the object as an asset of asset_type "upload" (usable as a reference image), or deletes it.

The asset never lives at the upload's key: its PUT URL stays valid for UPLOAD_URL_TTL_S after
completion, so the verified bytes are copied server-side to the asset's own key (compared there
by SHA-256) and the upload's object is deleted; a later PUT cannot change the asset.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from botocore.exceptions import ClientError
from sqlalchemy.ext.asyncio import AsyncSession

from api.asset_view import asset_public
from api.deps import owned_project_or_404
from api.error_responses import AppError, InvalidInput, NotFound
from api.schemas import AssetPublic, UploadCreate, UploadPublic
from api.state import ApiResources
from api.upload_check import UploadRefused, check_upload
from clients.object_store import ObjectStore
from db.assets import get_owned_asset, insert_upload_asset
from db.models import Upload, User
from db.uploads import create_upload, lock_owned_upload
from kernel.object_keys import thumbnail_key, upload_key, uploaded_asset_key
from kernel.payloads import ImageRef
from kernel.thumbnails import THUMBNAIL_MIME

NOTHING_UPLOADED = "nothing was uploaded: PUT the file to put_url with put_headers first"


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
    """Check the uploaded object and register its verified copy (at the asset's own key, out of
    the PUT URL's reach) as an asset; returns (its view, True when it was created now).
    Completing again returns the same asset (False). Concurrent completions of one upload wait
    for each other (row lock).

    Raises NotFound (another user's or no upload) and InvalidUpload (422; the object is deleted):
    nothing was uploaded, over UPLOAD_MAX_BYTES, not PNG/JPEG/WebP, not the declared type, over
    UPLOAD_MAX_PIXELS, not decodable, or replaced while it was checked. Storage and database
    outages propagate (503).
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
    """The uploaded object checked with Pillow (in a thread), copied to the asset's own key
    (`uploaded_asset_key`, which no presigned URL reaches) and compared there by SHA-256, its
    thumbnail written beside the copy, and the upload's object deleted; returns the copy.

    The object is read with a range GET of at most UPLOAD_MAX_BYTES + 1 bytes, so an object
    replaced through the still valid PUT URL after the HEAD is never read whole. A copy whose
    SHA-256 is not the checked bytes' one (the object was replaced after it was read) is
    refused. Raises InvalidUpload after deleting the upload's object (and any copy)."""
    store, settings = resources.store, resources.settings
    cap = settings.upload_max_bytes
    found = await store.head(upload.file_key)
    if found is None:
        raise InvalidUpload(NOTHING_UPLOADED)
    asset_key = uploaded_asset_key(str(upload.project_id), str(upload.id), upload.content_type)
    try:
        if found.size > cap:
            raise UploadRefused(f"the file is {found.size} bytes; at most {cap} are accepted")
        data = await store.get_at_most(upload.file_key, cap + 1)
        if data is None:
            raise InvalidUpload(NOTHING_UPLOADED)
        if len(data) > cap:
            raise UploadRefused(f"the file is over {cap} bytes; at most {cap} are accepted")
        checked = await anyio.to_thread.run_sync(check_upload, data, upload.content_type, settings.upload_max_pixels)
        await _copy_checked(store, upload, asset_key, checked.sha256, cap)
    except UploadRefused as exc:
        await store.delete(upload.file_key)
        raise InvalidUpload(str(exc)) from None
    thumb_key = None
    if checked.thumbnail is not None:
        thumb_key = thumbnail_key(asset_key)
        await store.put(thumb_key, checked.thumbnail, THUMBNAIL_MIME, {"source-sha256": checked.sha256})
    await store.delete(upload.file_key)
    return ImageRef(
        key=asset_key,
        sha256=checked.sha256,
        size=len(data),
        mime=checked.mime,
        width=checked.width,
        height=checked.height,
        thumbnail_key=thumb_key,
    )


async def _copy_checked(store: ObjectStore, upload: Upload, asset_key: str, sha256: str, cap: int) -> None:
    """Server-side copy of the upload's object to `asset_key`, whose SHA-256 (the store's
    checksum of the copy, or else the copy read back, at most `cap` + 1 bytes, and hashed in a
    thread) must be `sha256` (hex). Raises UploadRefused, leaving no copy, when it is not or
    when the upload's object vanished meanwhile."""
    changed = "the file changed while it was being checked; upload it again"
    try:
        copied = await store.copy(
            upload.file_key,
            asset_key,
            content_type=upload.content_type,
            metadata={"sha256": sha256, "upload-id": str(upload.id)},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise UploadRefused(changed) from None
        raise
    if copied is None:  # a store without checksums (the local SeaweedFS): hash the copy here
        data = await store.get_at_most(asset_key, cap + 1)
        copied = None if data is None else await anyio.to_thread.run_sync(_sha256_hex, data)
    if copied != sha256:
        await store.delete(asset_key)
        raise UploadRefused(changed)


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
