"""`record_assets`: upsert `rendered_assets` rows; a retry never duplicates a row."""

from __future__ import annotations

import uuid

from temporalio import activity

from db.assets import upsert_asset
from db.session import SessionFactory
from studio.payloads import RecordAssetsInput, RecordAssetsResult


class RecordActivities:
    """Activities that write Postgres; constructed once per worker with its session factory."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn(name="record_assets")
    async def record_assets(self, inp: RecordAssetsInput) -> RecordAssetsResult:
        """Upsert one row per delivered variation in one transaction; returns the asset ids."""
        ids: list[str] = []
        async with self._sessions() as session, session.begin():
            for asset in inp.assets:
                image = asset.image
                asset_id = await upsert_asset(
                    session,
                    project_id=uuid.UUID(inp.project_id),
                    task_id=uuid.UUID(inp.task_id),
                    variation_index=asset.variation_index,
                    file_key=image.key,
                    content_type=image.mime,
                    width=image.width,
                    height=image.height,
                    byte_size=image.size,
                    sha256=image.sha256,
                    metadata=asset.metadata,
                )
                ids.append(str(asset_id))
        return RecordAssetsResult(asset_ids=ids)
