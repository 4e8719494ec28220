"""Uploads: a presigned PUT of a user's image, until it is completed into an asset.

Scoped to the project's owner: another user's upload is indistinguishable from none. The
housekeeping sweep of abandoned uploads (never completed) is the one reader across owners.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Project, Upload


async def create_upload(
    session: AsyncSession,
    upload_id: uuid.UUID,
    project_id: uuid.UUID,
    owner_id: uuid.UUID,
    filename: str,
    file_key: str,
    content_type: str,
    byte_size: int,
    expires_at: datetime,
) -> Upload:
    """Add an upload (its object does not exist yet); `byte_size` as declared, in bytes;
    `expires_at` when its PUT URL stops working. The caller commits."""
    upload = Upload(
        id=upload_id,
        project_id=project_id,
        owner_id=owner_id,
        filename=filename,
        file_key=file_key,
        content_type=content_type,
        byte_size=byte_size,
        expires_at=expires_at,
    )
    session.add(upload)
    await session.flush()
    return upload


async def lock_owned_upload(session: AsyncSession, owner_id: uuid.UUID, upload_id: uuid.UUID) -> Upload | None:
    """The upload if its project belongs to `owner_id`, locked (`FOR UPDATE`) until the caller's
    transaction ends, so two completions of one upload run one after the other; else None."""
    stmt = (
        select(Upload)
        .join(Project, Project.id == Upload.project_id)
        .where(Upload.id == upload_id, Project.owner_id == owner_id)
        .with_for_update(of=Upload)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def abandoned_uploads(
    session: AsyncSession,
    created_before: datetime,
    expired_before: datetime,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    *,
    lock: bool,
) -> list[Upload]:
    """Up to `limit` uploads never completed (no asset) that were created before
    `created_before` and whose PUT URL expired before `expired_before`, oldest first, starting
    after the (created_at, id) keyset `after` (None: from the oldest). With `lock`, the rows are
    locked (`FOR UPDATE`) until the caller's transaction ends and rows locked by a completion in
    progress are skipped (`SKIP LOCKED`), so a completion and the sweep never both act on one
    upload."""
    stmt = select(Upload).where(
        Upload.asset_id.is_(None), Upload.created_at < created_before, Upload.expires_at < expired_before
    )
    if after is not None:
        stmt = stmt.where(tuple_(Upload.created_at, Upload.id) > tuple_(*after))
    stmt = stmt.order_by(Upload.created_at, Upload.id).limit(limit)
    if lock:
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.execute(stmt)).scalars())


async def delete_abandoned_uploads(session: AsyncSession, upload_ids: list[uuid.UUID]) -> int:
    """Delete those of `upload_ids` still not completed (a completed one is never deleted);
    returns how many rows went. The caller commits."""
    if not upload_ids:
        return 0
    result = await session.execute(
        delete(Upload)
        .where(Upload.id.in_(upload_ids), Upload.asset_id.is_(None))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
