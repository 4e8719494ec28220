"""`record_assets`: upsert `rendered_assets` rows; a retry never duplicates a row."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import DBAPIError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from db.assets import delete_assets, set_states, upsert_asset_for
from db.costs import price_task_assets
from db.error_kinds import classify_db_error
from db.session import SessionFactory
from db.tasks import insert_task_for
from kernel import failure_codes
from kernel.payloads import AssetIdsInput, AssetStatesInput, RecordAssetsInput, RecordAssetsResult, RenderTaskInput


class RecordActivities:
    """Activities that write Postgres; constructed once per worker with its session factory."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn(name="record_assets")
    async def record_assets(self, inp: RecordAssetsInput) -> RecordAssetsResult:
        """Upsert one row per delivered variation in one transaction, each priced from the model
        catalogue (`cost_micro_usd`); returns the asset ids."""
        ids: list[str] = []
        async with self._sessions() as session, session.begin():
            for asset in inp.assets:
                asset_id = await upsert_asset_for(session, uuid.UUID(inp.project_id), uuid.UUID(inp.task_id), asset)
                ids.append(str(asset_id))
            priced = await price_task_assets(session, uuid.UUID(inp.task_id))
        if priced is not None and priced.images:
            metrics.count(
                "render_cost_micro_usd", priced.images * priced.unit_micro_usd, model=priced.model, mode=priced.mode
            )
        return RecordAssetsResult(asset_ids=ids)

    @activity.defn(name="ensure_task_row")
    async def ensure_task_row(self, inp: RenderTaskInput) -> None:
        """Insert the task row if the API has not (it died between starting the workflow and
        inserting the row). Non-retryable failures: ProjectGone when the project was deleted,
        InvalidRequest when Postgres refuses the task's values (retrying cannot change them);
        an outage is retried."""
        try:
            async with self._sessions() as session, session.begin():
                await insert_task_for(session, inp)
        except DBAPIError as exc:
            info = classify_db_error(exc)
            if info.kind == "conflict":
                raise ApplicationError(
                    f"project {inp.project_id} no longer exists", type="ProjectGone", non_retryable=True
                ) from exc
            if info.kind == "invalid":
                raise ApplicationError(
                    f"the task cannot be stored: {info.message}", type=failure_codes.INVALID_REQUEST, non_retryable=True
                ) from None  # the driver's exception repeats the offending value
            raise

    @activity.defn(name="delete_assets")
    async def delete_assets(self, inp: AssetIdsInput) -> None:
        """Remove the rows of a canceled task's recorded assets (their objects are discarded by
        `discard_task_objects`); idempotent."""
        async with self._sessions() as session, session.begin():
            await delete_assets(session, [uuid.UUID(a) for a in inp.asset_ids])

    @activity.defn(name="set_asset_states")
    async def set_asset_states(self, inp: AssetStatesInput) -> None:
        """Mark assets approved or archived (the review's decision); idempotent."""
        async with self._sessions() as session, session.begin():
            await set_states(session, [uuid.UUID(a) for a in inp.approved], "approved")
            await set_states(session, [uuid.UUID(a) for a in inp.archived], "archived")
