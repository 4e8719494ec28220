"""Housekeeping activities (issue 13), run by `HousekeepingWorkflow` on Temporal Schedules:

- `expire_export_files`: export files finished more than EXPORT_RETENTION_DAYS ago are deleted
  from S3 and their rows marked `expired_at` (the row stays: the list still shows the export).
- `expire_idempotency_keys`: tasks' and exports' Idempotency-Keys older than
  IDEMPOTENCY_KEY_TTL_DAYS are cleared with their request hash; a POST with such a key then
  creates a new task (api/task_service.py moves on to the key's next generation).
- `sweep_staged_objects`: staged model outputs (`staging/projects/<p>/tasks/<t>/...`) older than
  STAGING_SWEEP_MIN_AGE_S whose task has no running workflow (closed, or none at all) are
  deleted. A running task's staging is never touched, whatever its age.
- `sweep_abandoned_uploads`: uploads never completed UPLOAD_ABANDON_AFTER_S after they were
  started, and whose PUT URL has expired (no PUT can land after the sweep), are deleted with
  the object at their upload key if one was PUT. A completed upload (`asset_id` set) and its
  asset are never touched. An upload whose asset the user deleted has lost its `asset_id`
  (FK `ON DELETE SET NULL`) and is swept like an abandoned one: its row and its upload-key
  object go (the asset's own object, at `uploaded_asset_key`, is not the sweep's to touch).

Each returns a `HousekeepingReport` (count and examples), logs it and adds the count to the
`housekeeping_removed{job, dry_run}` counter. With `dry_run` nothing is removed: the report
says what would have been.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.metrics import count
from clients.object_store import ObjectStore
from db.exports import expire_idempotency_keys, expired_export_files, mark_export_expired
from db.session import SessionFactory
from db.uploads import abandoned_uploads, delete_abandoned_uploads
from kernel.contract import workflow_id_for
from kernel.exports import HousekeepingInput, HousekeepingReport

STAGING_PREFIX = "staging/projects/"
# Files one run removes at most; the next run continues.
EXPORTS_PER_RUN = 1000
# Uploads one transaction locks and removes, and one run at most; the next run continues.
UPLOADS_PER_BATCH = 200
UPLOADS_PER_RUN = 20_000
MAX_EXAMPLES = 50


def _report(inp: HousekeepingInput, removed: list[str]) -> HousekeepingReport:
    """Log and count what a run removed (or would have), and return its report."""
    report = HousekeepingReport(job=inp.job, dry_run=inp.dry_run, removed=len(removed), examples=removed[:MAX_EXAMPLES])
    activity.logger.info(
        "housekeeping %s: %s %d", inp.job, "would remove" if inp.dry_run else "removed", len(removed),
        extra={"job": inp.job, "dry_run": inp.dry_run, "removed": len(removed), "examples": removed[:10]},
    )  # fmt: skip
    count("housekeeping_removed", len(removed), job=inp.job, dry_run=str(inp.dry_run).lower())
    return report


def _task_of_staging_key(key: str) -> str | None:
    """The task id in `staging/projects/<p>/tasks/<t>/<v>[...]`, or None for another layout."""
    parts = key.split("/")
    if len(parts) >= 6 and parts[3] == "tasks":
        try:
            return str(uuid.UUID(parts[4]))
        except ValueError:
            return None
    return None


class HousekeepingActivities:
    """Housekeeping of one worker, bound to its S3 store and Postgres sessions; the Temporal
    client is the worker's own (`activity.client()`)."""

    def __init__(self, store: ObjectStore, sessions: SessionFactory) -> None:
        self._store = store
        self._sessions = sessions

    @activity.defn(name="expire_export_files")
    async def expire_export_files(self, inp: HousekeepingInput) -> HousekeepingReport:
        """Delete the files of exports finished more than `export_retention_days` ago and mark
        their rows expired (pages of EXPORT_PAGE, heartbeating)."""
        cutoff = datetime.now(UTC) - timedelta(days=inp.export_retention_days)
        async with self._sessions() as session:
            expired = await expired_export_files(session, cutoff, EXPORTS_PER_RUN)
        removed: list[str] = []
        for export in expired:
            removed.append(f"{export.id} {export.file_key}")
            if inp.dry_run or export.file_key is None:
                continue
            await self._store.delete(export.file_key)
            async with self._sessions() as session, session.begin():
                await mark_export_expired(session, export.id, datetime.now(UTC))
            activity.heartbeat(len(removed))
        return _report(inp, removed)

    @activity.defn(name="expire_idempotency_keys")
    async def expire_idempotency_keys(self, inp: HousekeepingInput) -> HousekeepingReport:
        """Clear the Idempotency-Keys (and request hashes) of tasks and exports created more
        than `idempotency_key_ttl_days` ago."""
        cutoff = datetime.now(UTC) - timedelta(days=inp.idempotency_key_ttl_days)
        async with self._sessions() as session, session.begin():
            removed = await expire_idempotency_keys(session, cutoff, dry_run=inp.dry_run)
        return _report(inp, removed)

    @activity.defn(name="sweep_staged_objects")
    async def sweep_staged_objects(self, inp: HousekeepingInput) -> HousekeepingReport:
        """Delete staged objects older than `staging_min_age_s` whose task's workflow is not
        running (closed or unknown to Temporal). Raises RPCError when Temporal does not answer
        (nothing is deleted for a task whose workflow could not be described)."""
        cutoff = time.time() - inp.staging_min_age_s
        by_task: dict[str, list[str]] = defaultdict(list)
        for key, modified, _size in await self._store.list_objects(STAGING_PREFIX):
            task_id = _task_of_staging_key(key)
            if task_id is not None and modified < cutoff:
                by_task[task_id].append(key)
        client = activity.client()
        removed: list[str] = []
        for task_id, keys in by_task.items():
            activity.heartbeat(len(removed))
            if await self._running(client, workflow_id_for(uuid.UUID(task_id))):
                continue
            for key in sorted(keys, key=lambda k: (not k.endswith(".thumb.webp"), k)):  # thumbnails first
                if not inp.dry_run:
                    await self._store.delete(key)
                removed.append(key)
        return _report(inp, removed)

    @activity.defn(name="sweep_abandoned_uploads")
    async def sweep_abandoned_uploads(self, inp: HousekeepingInput) -> HousekeepingReport:
        """Delete uploads not completed `upload_abandon_after_s` seconds after they were started
        (and whose PUT URL has expired), with their object if one was PUT (a missing object is
        S3's success). In batches of UPLOADS_PER_BATCH, oldest first, each one transaction:
        the rows are locked (a completion in progress is skipped and its upload kept), their
        objects deleted, the rows deleted, committed, heartbeat; at most UPLOADS_PER_RUN per
        run. A retry after a failure starts again from the rows still there: an object already
        deleted is simply missing. Storage and database errors propagate (the batch under way
        rolls back; its rows stay for the retry)."""
        now = datetime.now(UTC)
        cutoff = now - timedelta(seconds=inp.upload_abandon_after_s)
        removed: list[str] = []
        after: tuple[datetime, uuid.UUID] | None = None
        while len(removed) < UPLOADS_PER_RUN:
            limit = min(UPLOADS_PER_BATCH, UPLOADS_PER_RUN - len(removed))
            async with self._sessions() as session, session.begin():
                batch = await abandoned_uploads(session, cutoff, now, after, limit, lock=not inp.dry_run)
                if not inp.dry_run:
                    for upload in batch:
                        await self._store.delete(upload.file_key)
                    await delete_abandoned_uploads(session, [upload.id for upload in batch])
                names = [f"{upload.id} {upload.file_key}" for upload in batch]
                last = (batch[-1].created_at, batch[-1].id) if batch else None
            removed.extend(names)
            activity.heartbeat(len(removed))
            if last is None or len(batch) < limit:
                break
            after = last
        return _report(inp, removed)

    @staticmethod
    async def _running(client: Client, workflow_id: str) -> bool:
        """True when the workflow is running (its staging is live); False when closed or unknown."""
        try:
            desc = await client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return desc.status == WorkflowExecutionStatus.RUNNING
