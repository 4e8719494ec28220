"""Uploads: a presigned PUT of a user's image, until it is completed into an asset.

Scoped to the project's owner: another user's upload is indistinguishable from none.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
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
