"""`studio thumbnails`: give every asset without a thumbnail its WebP thumbnail.

Assets published before thumbnails existed have `thumbnail_key` NULL. Each is downloaded,
decoded once in the image thread pool (`activities.cpu_pool`) and its thumbnail written beside
it (`kernel.object_keys.thumbnail_key`), then the key recorded. Safe to run while the service
runs and to run again: a thumbnail already written for the same bytes is reused, an asset
deleted meanwhile is skipped, and each asset's row is updated in its own transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from activities.cpu_pool import run_cpu
from activities.image_check import InvalidImageError, thumbnail_of
from clients.object_store import ObjectStore
from db.assets import assets_without_thumbnail, set_thumbnail
from db.models import RenderedAsset
from db.session import SessionFactory
from kernel.object_keys import thumbnail_key
from kernel.thumbnails import THUMBNAIL_MIME

log = logging.getLogger(__name__)

PAGE_SIZE = 100


@dataclass
class BackfillReport:
    """Counts of one run: assets without a thumbnail seen, thumbnails made (or, in a dry run,
    that would be made), assets whose image object is missing, images that do not decode."""

    seen: int = 0
    made: int = 0
    missing_image: int = 0
    undecodable: int = 0


async def backfill_thumbnails(
    sessions: SessionFactory, store: ObjectStore, project_id: uuid.UUID | None = None, *, dry_run: bool = False
) -> BackfillReport:
    """Make the thumbnails of the assets (of one project, or all) that have none, one at a time
    (each decode is a whole image: tens of MB at 4K). With `dry_run`, only count them.

    Storage and database errors propagate; a rerun continues where this one stopped.
    """
    report = BackfillReport()
    after: uuid.UUID | None = None
    while True:
        async with sessions() as session:
            page = await assets_without_thumbnail(session, project_id, after, PAGE_SIZE)
        for asset in page:
            after = asset.id
            report.seen += 1
            if dry_run:
                report.made += 1
                continue
            key = await _thumbnail_for(store, asset, report)
            if key is not None:
                async with sessions() as session, session.begin():
                    await set_thumbnail(session, asset.id, key)
                report.made += 1
        if len(page) < PAGE_SIZE:
            return report


async def _thumbnail_for(store: ObjectStore, asset: RenderedAsset, report: BackfillReport) -> str | None:
    """Write the thumbnail of `asset`'s image (unless one for the same bytes is there); its key,
    or None (counted in `report`) when the image is gone or does not decode."""
    key = thumbnail_key(asset.file_key)
    found = await store.head(key)
    if found is not None and found.metadata.get("source-sha256") == asset.sha256:
        return key
    if await store.head(asset.file_key) is None:
        log.warning("asset %s: image %s is missing; no thumbnail", asset.id, asset.file_key)
        report.missing_image += 1
        return None
    try:
        thumbnail = await run_cpu(thumbnail_of, await store.get(asset.file_key))
    except InvalidImageError as exc:
        log.warning("asset %s: %s", asset.id, exc)
        report.undecodable += 1
        return None
    await store.put(key, thumbnail, THUMBNAIL_MIME, {"source-sha256": asset.sha256})
    return key
