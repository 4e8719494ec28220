"""Rendered assets: idempotent upserts from the workflow, uploads, owner-scoped reads for the API,
thumbnail backfill pages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Select, Table, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AssetParent, Project, RenderedAsset
from db.pagination import newest_first, page_of
from kernel.payloads import AssetRecord, ImageRef

# The asset_type of a user's uploaded image: the one kind of asset without a task.
UPLOAD_ASSET_TYPE = "upload"

_TABLE = cast(Table, RenderedAsset.__table__)

T = TypeVar("T")


async def upsert_asset_for(
    session: AsyncSession, project_id: uuid.UUID, task_id: uuid.UUID, record: AssetRecord
) -> uuid.UUID:
    """Insert or update the row of `record` (a delivered variation of the workflow) for
    (task_id, variation_index), and link its parents; returns its id. Retrying with the same
    record leaves exactly one row and one edge per parent. The caller commits."""
    image = record.image
    values = {
        "file_key": image.key,
        "content_type": image.mime,
        "width": image.width,
        "height": image.height,
        "byte_size": image.size,
        "sha256": image.sha256,
        "metadata": record.metadata,
        "asset_type": record.asset_type,
        "thumbnail_key": image.thumbnail_key,
    }
    variation_index = record.variation_index
    stmt = (
        insert(_TABLE)
        .values(
            id=uuid.uuid4(),
            project_id=project_id,
            task_id=task_id,
            variation_index=variation_index,
            type="image",
            **values,
        )
        .on_conflict_do_update(constraint="uq_rendered_assets_task_variation", set_=values)
        .returning(_TABLE.c.id)
    )
    asset_id: uuid.UUID = (await session.execute(stmt)).scalar_one()
    await link_parents(session, asset_id, [uuid.UUID(p) for p in record.parent_asset_ids])
    return asset_id


async def get_owned_asset(session: AsyncSession, owner_id: uuid.UUID, asset_id: uuid.UUID) -> RenderedAsset | None:
    """The asset if its project belongs to `owner_id`, else None."""
    stmt = (
        select(RenderedAsset)
        .join(Project, Project.id == RenderedAsset.project_id)
        .where(RenderedAsset.id == asset_id, Project.owner_id == owner_id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True)
class AssetFilters:
    """Optional filters of an asset list; None means any."""

    task_id: uuid.UUID | None = None
    state: str | None = None
    asset_type: str | None = None
    visibility: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def apply(self, stmt: Select[T]) -> Select[T]:
        """`stmt` (a select from rendered_assets) narrowed to the assets these filters match."""
        for column, value in (
            (RenderedAsset.task_id, self.task_id),
            (RenderedAsset.state, self.state),
            (RenderedAsset.asset_type, self.asset_type),
            (RenderedAsset.visibility, self.visibility),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if self.created_after is not None:
            stmt = stmt.where(RenderedAsset.created_at >= self.created_after)
        if self.created_before is not None:
            stmt = stmt.where(RenderedAsset.created_at < self.created_before)
        return stmt


async def list_project_assets(
    session: AsyncSession, project_id: uuid.UUID, filters: AssetFilters, cursor: str | None, limit: int
) -> tuple[list[RenderedAsset], str | None]:
    """A page of the project's assets matching `filters`, newest first (ties broken by id)."""
    base = select(RenderedAsset).where(RenderedAsset.project_id == project_id)
    base = filters.apply(base)
    rows = list((await session.execute(newest_first(base, RenderedAsset, cursor, limit))).scalars())
    return page_of(rows, limit)


async def get_public_asset(session: AsyncSession, asset_id: uuid.UUID) -> RenderedAsset | None:
    """The asset if it is public, else None (private and missing look the same)."""
    stmt = select(RenderedAsset).where(RenderedAsset.id == asset_id, RenderedAsset.visibility == "public")
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete_asset(session: AsyncSession, asset_id: uuid.UUID) -> None:
    """Remove the row (its lineage edges go with it). The caller commits."""
    await delete_assets(session, [asset_id])


async def delete_assets(session: AsyncSession, asset_ids: list[uuid.UUID]) -> None:
    """Remove the rows (idempotent; lineage edges go with them). The caller commits."""
    await session.execute(delete(RenderedAsset).where(RenderedAsset.id.in_(asset_ids)))


async def link_parents(session: AsyncSession, asset_id: uuid.UUID, parent_ids: list[uuid.UUID]) -> None:
    """Record that `asset_id` was made from `parent_ids` (idempotent; parents deleted since are
    skipped). The caller commits."""
    if not parent_ids:
        return
    existing = select(RenderedAsset.id).where(RenderedAsset.id.in_(parent_ids))
    parents = [row for row in (await session.execute(existing)).scalars()]
    if parents:
        stmt = insert(AssetParent).values([{"asset_id": asset_id, "parent_asset_id": p} for p in parents])
        await session.execute(stmt.on_conflict_do_nothing())


LINEAGE_DEPTH = 50


@dataclass(frozen=True)
class LineageSide:
    """One direction of an asset's lineage: the nearest `nearest` as (id, depth) pairs (depth 1
    = direct; by depth, then id) and `total`, how many there are in all (within 50 levels)."""

    nearest: list[tuple[uuid.UUID, int]]
    total: int


async def _lineage_walk(
    session: AsyncSession, asset_id: uuid.UUID, start_col: str, next_col: str, limit: int | None
) -> LineageSide:
    """A recursive CTE over `asset_parents` from `asset_id`, following `start_col` -> `next_col`
    (at most LINEAGE_DEPTH levels); the first `limit` (all when None) and the total count."""
    edges = AssetParent.__table__
    base = select(edges.c[next_col].label("id"), literal(1).label("depth")).where(edges.c[start_col] == asset_id)
    tree = base.cte(recursive=True)
    step = select(edges.c[next_col], tree.c.depth + 1).where(
        edges.c[start_col] == tree.c.id, tree.c.depth < LINEAGE_DEPTH
    )
    tree = tree.union(step)
    depth = func.min(tree.c.depth)
    stmt = (
        select(tree.c.id, depth, func.count().over().label("total"))
        .group_by(tree.c.id)
        .order_by(depth, tree.c.id)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    return LineageSide([(row[0], int(row[1])) for row in rows], int(rows[0][2]) if rows else 0)


async def lineage(
    session: AsyncSession, asset_id: uuid.UUID
) -> tuple[list[tuple[uuid.UUID, int]], list[tuple[uuid.UUID, int]]]:
    """(ancestors, descendants) of an asset as (id, depth) pairs, depth 1 = direct, nearest
    first; recursive CTEs over `asset_parents`, at most 50 levels."""
    ancestors = await _lineage_walk(session, asset_id, "asset_id", "parent_asset_id", None)
    descendants = await _lineage_walk(session, asset_id, "parent_asset_id", "asset_id", None)
    return ancestors.nearest, descendants.nearest


async def nearest_lineage(session: AsyncSession, asset_id: uuid.UUID, limit: int) -> tuple[LineageSide, LineageSide]:
    """(ancestors, descendants) of an asset, each its `limit` nearest with the total count (the
    lightbox shows a bounded row however popular a reference is)."""
    ancestors = await _lineage_walk(session, asset_id, "asset_id", "parent_asset_id", limit)
    descendants = await _lineage_walk(session, asset_id, "parent_asset_id", "asset_id", limit)
    return ancestors, descendants


async def get_owned_assets(
    session: AsyncSession, owner_id: uuid.UUID, asset_ids: list[uuid.UUID]
) -> list[RenderedAsset]:
    """The given assets whose project belongs to `owner_id`, in the order of `asset_ids` (one
    query; others are simply absent)."""
    if not asset_ids:
        return []
    stmt = (
        select(RenderedAsset)
        .join(Project, Project.id == RenderedAsset.project_id)
        .where(RenderedAsset.id.in_(asset_ids), Project.owner_id == owner_id)
    )
    found = {a.id: a for a in (await session.execute(stmt)).scalars()}
    return [found[i] for i in asset_ids if i in found]


async def assets_in_project(
    session: AsyncSession, project_id: uuid.UUID, asset_ids: list[uuid.UUID]
) -> list[RenderedAsset]:
    """The given assets that belong to `project_id` (others are simply absent)."""
    if not asset_ids:
        return []
    stmt = select(RenderedAsset).where(RenderedAsset.project_id == project_id, RenderedAsset.id.in_(asset_ids))
    return list((await session.execute(stmt)).scalars())


async def set_states(session: AsyncSession, asset_ids: list[uuid.UUID], state: str) -> None:
    """Set `state` on the given assets. The caller commits."""
    if asset_ids:
        await session.execute(update(RenderedAsset).where(RenderedAsset.id.in_(asset_ids)).values(state=state))


async def insert_upload_asset(
    session: AsyncSession,
    project_id: uuid.UUID,
    image: ImageRef,
    metadata: dict[str, Any],
) -> RenderedAsset:
    """A new asset of asset_type 'upload' (no task, no variation) for a verified uploaded
    image; `image.thumbnail_key` as its thumbnail. The caller commits."""
    asset = RenderedAsset(
        id=uuid.uuid4(),
        project_id=project_id,
        task_id=None,
        variation_index=None,
        type="image",
        file_key=image.key,
        content_type=image.mime,
        width=image.width,
        height=image.height,
        byte_size=image.size,
        sha256=image.sha256,
        metadata_=metadata,
        state="draft",
        asset_type=UPLOAD_ASSET_TYPE,
        visibility="private",
        thumbnail_key=image.thumbnail_key,
    )
    session.add(asset)
    await session.flush()
    await session.refresh(asset)  # created_at, from the server
    return asset


async def assets_without_thumbnail(
    session: AsyncSession, project_id: uuid.UUID | None, after_id: uuid.UUID | None, limit: int
) -> list[RenderedAsset]:
    """Up to `limit` assets with no thumbnail (of one project, or all), in id order after
    `after_id`: the pages of a backfill."""
    stmt = select(RenderedAsset).where(RenderedAsset.thumbnail_key.is_(None))
    if project_id is not None:
        stmt = stmt.where(RenderedAsset.project_id == project_id)
    if after_id is not None:
        stmt = stmt.where(RenderedAsset.id > after_id)
    return list((await session.execute(stmt.order_by(RenderedAsset.id).limit(limit))).scalars())


async def set_thumbnail(session: AsyncSession, asset_id: uuid.UUID, key: str) -> None:
    """Record the asset's thumbnail key (no-op when the asset was deleted). The caller commits."""
    await session.execute(update(RenderedAsset).where(RenderedAsset.id == asset_id).values(thumbnail_key=key))
