"""Export rows (issue 13) and the SQL of housekeeping: owner-scoped reads for the API, the
finished file (or the failure or cancel) recorded by the workflow, expired files and expired idempotency keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.assets import AssetFilters
from db.models import AssetParent, Export, Project, RenderedAsset, Task
from db.pagination import newest_first, page_of
from kernel.contract import export_workflow_id
from kernel.exports import ExportInput


async def insert_export_if_absent(session: AsyncSession, inp: ExportInput) -> None:
    """Insert the row of export `inp` unless it exists (written by the API, or by the workflow
    when the API's commit was lost). The caller commits."""
    export_id = uuid.UUID(inp.export_id)
    stmt = (
        insert(Export)
        .values(
            id=export_id,
            project_id=uuid.UUID(inp.project_id),
            format=inp.format,
            asset_ids=inp.asset_ids,
            options=inp.options.model_dump(mode="json"),
            workflow_id=export_workflow_id(export_id),
            idempotency_key=inp.idempotency_key,
            request_hash=inp.request_hash,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    await session.execute(stmt)


async def get_export(session: AsyncSession, export_id: uuid.UUID) -> Export | None:
    """The export row, whoever owns it."""
    return await session.get(Export, export_id, populate_existing=True)


async def get_owned_export(session: AsyncSession, owner_id: uuid.UUID, export_id: uuid.UUID) -> Export | None:
    """The export if its project belongs to `owner_id`, else None."""
    stmt = (
        select(Export)
        .join(Project, Project.id == Export.project_id)
        .where(Export.id == export_id, Project.owner_id == owner_id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_project_exports(
    session: AsyncSession, project_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Export], str | None]:
    """A page of the project's exports, newest first, and the next cursor."""
    base = select(Export).where(Export.project_id == project_id)
    rows = list((await session.execute(newest_first(base, Export, cursor, limit))).scalars())
    return page_of(rows, limit)


async def record_export_file(
    session: AsyncSession, export_id: uuid.UUID, key: str, size: int, sha256: str, completed_at: datetime
) -> None:
    """Record the finished file of an export (idempotent: a retry writes the same values; the
    first completion time stands). The caller commits."""
    await session.execute(
        update(Export)
        .where(Export.id == export_id)
        .values(
            file_key=key, byte_size=size, sha256=sha256, completed_at=func.coalesce(Export.completed_at, completed_at)
        )
    )


async def record_export_outcome(
    session: AsyncSession, export_id: uuid.UUID, status: str, error_code: str, error_message: str, ended_at: datetime
) -> None:
    """Record how an export ended without a file: `status` (`failed` | `canceled`), the error's
    code and message, and when. Idempotent: the first end time stands, and a row whose file was
    recorded is left alone. The caller commits."""
    await session.execute(
        update(Export)
        .where(Export.id == export_id, Export.completed_at.is_(None))
        .values(
            outcome=status,
            error_code=error_code,
            error_message=error_message,
            ended_at=func.coalesce(Export.ended_at, ended_at),
        )
    )


@dataclass(frozen=True)
class ExportAssetRow:
    """One asset as an export needs it: the asset, its task (None for uploads) and its parents."""

    asset: RenderedAsset
    task: Task | None
    parent_ids: list[uuid.UUID]


async def export_asset_rows(
    session: AsyncSession, project_id: uuid.UUID, asset_ids: list[uuid.UUID]
) -> list[ExportAssetRow]:
    """The given assets of `project_id` with their tasks and lineage parents, in the order of
    `asset_ids` (assets deleted since are left out)."""
    if not asset_ids:
        return []
    stmt = (
        select(RenderedAsset, Task)
        .outerjoin(Task, Task.id == RenderedAsset.task_id)
        .where(RenderedAsset.project_id == project_id, RenderedAsset.id.in_(asset_ids))
    )
    found = {asset.id: (asset, task) for asset, task in (await session.execute(stmt)).all()}
    edges = select(AssetParent.asset_id, AssetParent.parent_asset_id).where(AssetParent.asset_id.in_(list(found)))
    parents: dict[uuid.UUID, list[uuid.UUID]] = {}
    for child, parent in (await session.execute(edges.order_by(AssetParent.parent_asset_id))).all():
        parents.setdefault(child, []).append(parent)
    return [ExportAssetRow(found[a][0], found[a][1], parents.get(a, [])) for a in asset_ids if a in found]


async def expired_export_files(session: AsyncSession, completed_before: datetime, limit: int) -> list[Export]:
    """Up to `limit` exports whose file was finished before `completed_before` and not yet
    removed, oldest first."""
    stmt = (
        select(Export)
        .where(Export.completed_at < completed_before, Export.expired_at.is_(None), Export.file_key.is_not(None))
        .order_by(Export.completed_at)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def mark_export_expired(session: AsyncSession, export_id: uuid.UUID, at: datetime) -> None:
    """Note that the export's file was removed. The caller commits."""
    await session.execute(update(Export).where(Export.id == export_id).values(expired_at=at))


async def expire_idempotency_keys(
    session: AsyncSession, created_before: datetime, *, dry_run: bool, limit: int = 10_000
) -> list[str]:
    """Forget the Idempotency-Keys of tasks and exports created before `created_before`: the
    key and the request's hash are cleared (a later POST with the key makes a new task or
    export: api/task_service.py walks past expired generations). Returns the ids of the rows
    concerned (at most `limit` per table); with `dry_run` nothing changes. The caller commits."""
    ids: list[str] = []
    for model in (Task, Export):
        stmt = (
            select(model.id).where(model.idempotency_key.is_not(None), model.created_at < created_before).limit(limit)
        )
        found = list((await session.execute(stmt)).scalars())
        if found and not dry_run:
            await session.execute(
                update(model).where(model.id.in_(found)).values(idempotency_key=None, request_hash=None)
            )
        ids.extend(f"{model.__tablename__}/{i}" for i in found)
    return ids


async def matching_asset_ids(
    session: AsyncSession, project_id: uuid.UUID, filters: AssetFilters, limit: int
) -> list[uuid.UUID]:
    """Ids of up to `limit` of the project's assets matching `filters`, newest first (ask for
    one more than allowed to learn that there are too many)."""
    stmt = filters.apply(select(RenderedAsset.id).where(RenderedAsset.project_id == project_id))
    stmt = stmt.order_by(RenderedAsset.created_at.desc(), RenderedAsset.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())
