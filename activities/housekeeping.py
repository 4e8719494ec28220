"""Housekeeping activities (issue 13), run by `HousekeepingWorkflow` on Temporal Schedules:

- `expire_export_files`: export files finished more than EXPORT_RETENTION_DAYS ago are deleted
  from S3 and their rows marked `expired_at` (the row stays: the list still shows the export).
- `expire_idempotency_keys`: tasks' and exports' Idempotency-Keys older than
  IDEMPOTENCY_KEY_TTL_DAYS are cleared with their request hash; a POST with such a key then
  creates a new task (api/task_service.py moves on to the key's next generation).
- `sweep_staged_objects`: staged model outputs (`staging/projects/<p>/tasks/<t>/...`) older than
  STAGING_SWEEP_MIN_AGE_S whose task has no running workflow (closed, or none at all) are
  deleted. A running task's staging is never touched, whatever its age. The listing is read a
  page at a time, up to STAGING_KEYS_PER_RUN keys per run (the next run continues).
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

import asyncio
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
# Staged keys one sweep examines at most, listed in pages of STAGING_PAGE_KEYS (S3's largest
# ListObjectsV2 answer): bounds a run's memory and time (a describe per task, a delete per
# key); the next run continues. The keys a run keeps (a running task's, those younger than
# STAGING_SWEEP_MIN_AGE_S) are listed again by the next: they are few next to this cap.
STAGING_KEYS_PER_RUN = 100_000
STAGING_PAGE_KEYS = 1000
# Workflows the staging sweep describes at once (Temporal frontend calls in flight).
STAGING_DESCRIBES_AT_ONCE = 8
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
    client is the worker's own (`activity.client()`). `staging_page_keys` and
    `staging_keys_per_run` size the staging sweep's list pages and per-run cap (keys)."""

    def __init__(
        self,
        store: ObjectStore,
        sessions: SessionFactory,
        *,
        staging_page_keys: int = STAGING_PAGE_KEYS,
        staging_keys_per_run: int = STAGING_KEYS_PER_RUN,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._staging_page_keys = staging_page_keys
        self._staging_keys_per_run = staging_keys_per_run

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
        running (closed or unknown to Temporal). The listing is read a page at a time, each
        page's tasks described STAGING_DESCRIBES_AT_ONCE at a time, then its keys deleted
        (heartbeat per page); at most `staging_keys_per_run` keys are examined per run. Raises
        RPCError when Temporal does not answer (nothing is deleted for a task whose workflow
        could not be described) and S3's errors."""
        cutoff = time.time() - inp.staging_min_age_s
        client = activity.client()
        # Task -> running, for the run: a task's keys are contiguous in key order but may
        # straddle two pages (one entry per task; at most one per key examined).
        running: dict[str, bool] = {}
        removed: list[str] = []
        examined = 0
        pages = self._store.list_object_pages(STAGING_PREFIX, self._staging_page_keys, self._staging_keys_per_run)
        async for page in pages:
            examined += len(page)
            by_task: dict[str, list[str]] = defaultdict(list)
            for key, modified, _size in page:
                task_id = _task_of_staging_key(key)
                if task_id is not None and modified < cutoff:
                    by_task[task_id].append(key)
            unknown = [task_id for task_id in by_task if task_id not in running]
            running.update(zip(unknown, await self._running_all(client, unknown), strict=True))
            for task_id, keys in by_task.items():
                if running[task_id]:
                    continue
                for key in sorted(keys, key=lambda k: (not k.endswith(".thumb.webp"), k)):  # thumbnails first
                    if not inp.dry_run:
                        await self._store.delete(key)
                    removed.append(key)
            activity.heartbeat(examined)
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

    @classmethod
    async def _running_all(cls, client: Client, task_ids: list[str]) -> list[bool]:
        """Whether each task's workflow is running, in `task_ids`' order, described
        STAGING_DESCRIBES_AT_ONCE at a time. Raises the first describe's RPCError (the others
        in flight are cancelled)."""
        gate = asyncio.Semaphore(STAGING_DESCRIBES_AT_ONCE)

        async def one(task_id: str) -> bool:
            async with gate:
                return await cls._running(client, workflow_id_for(uuid.UUID(task_id)))

        try:
            async with asyncio.TaskGroup() as group:
                described = [group.create_task(one(task_id)) for task_id in task_ids]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [done.result() for done in described]

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
