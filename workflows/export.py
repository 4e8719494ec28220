"""`ExportWorkflow`: one export of a project's assets (issue 13), workflow id `export-<uuid>`.

build (zip | contact sheet | mp4, one heartbeating activity that writes the file to S3 under
`exports/`) -> record the file on the export's row -> the `ExportFile` as the result. Bytes
never enter the history: activities pass the S3 key, size and SHA-256. On cancellation the
build is cancelled (and waited for, so no part lands after the cleanup), then any unfinished
upload is aborted and the object deleted: a canceled export leaves nothing in S3. A failed
build is cleaned up the same way. Then how it ended (failed with its error code and message, or
canceled) is recorded on the export's row (`record_export_outcome`, patch
`export-records-outcome`), which the API reads once Temporal's retention dropped the workflow.

Progress is not kept here: the API reads `done`/`total` from the pending build activity's
heartbeat details (api/export_status.py), which needs no live worker.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.exports import EXPORT_SOURCE_MISSING, ExportActivities
    from kernel.contract import EXPORT_WORKFLOW
    from kernel.exports import (
        BuildExportInput,
        DiscardExportInput,
        ExportFile,
        ExportInput,
        RecordExportInput,
        RecordExportOutcomeInput,
        export_error_code,
        export_key,
    )
    from workflows import retry_policies

# A build streams up to hundreds of images: an hour per attempt (an MP4 is capped well under it
# at the API: kernel/exports.py MP4_MAX_PIXEL_FRAMES); heartbeats (every chunk or image, and
# every few seconds during a long CPU step) show a dead worker within EXPORT_HEARTBEAT, and the
# next attempt resumes (zip).
EXPORT_START_TO_CLOSE = timedelta(hours=1)
EXPORT_HEARTBEAT = timedelta(seconds=20)
RECORDS_OUTCOME_PATCH = "export-records-outcome"
EXPORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=[EXPORT_SOURCE_MISSING, "ExportEmpty", "InvalidImage"],
)


@workflow.defn(name=EXPORT_WORKFLOW)
class ExportWorkflow:
    """One export; its names are the API's contract (kernel/contract.py)."""

    @workflow.run
    async def run(self, inp: ExportInput) -> ExportFile:
        """Build the export's file, record it on the row and return it. Raises the build's
        ApplicationError (ExportSourceMissing, ExportEmpty, InvalidImage) after cleaning up."""
        key = export_key(inp.project_id, inp.export_id, inp.format)
        heartbeat = (
            timedelta(seconds=inp.build_heartbeat_timeout_s) if inp.build_heartbeat_timeout_s else EXPORT_HEARTBEAT
        )
        build = {
            "zip": ExportActivities.build_zip_export,
            "contact_sheet": ExportActivities.build_contact_sheet,
            "mp4": ExportActivities.build_video_export,
        }[inp.format]
        try:
            file: ExportFile = await workflow.execute_activity_method(
                build,
                BuildExportInput(
                    export_id=inp.export_id,
                    project_id=inp.project_id,
                    format=inp.format,
                    asset_ids=inp.asset_ids,
                    options=inp.options,
                    key=key,
                ),
                activity_id="build",
                start_to_close_timeout=EXPORT_START_TO_CLOSE,
                heartbeat_timeout=heartbeat,
                retry_policy=EXPORT_RETRY,
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
            await workflow.execute_activity_method(
                ExportActivities.record_export,
                RecordExportInput(export_id=inp.export_id, file=file, export=inp),
                start_to_close_timeout=retry_policies.RECORD_START_TO_CLOSE,
                schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
                retry_policy=retry_policies.DURABLE_RETRY,
            )
        except (asyncio.CancelledError, ActivityError) as exc:
            # Canceled (or failed) at any point before the result: nothing stays in S3.
            await self._discard(key)
            if workflow.patched(RECORDS_OUTCOME_PATCH):
                await self._record_outcome(inp, exc)
            raise
        return file

    async def _record_outcome(self, inp: ExportInput, exc: BaseException) -> None:
        """Write how the export ended (as the API words it: api/export_status.py) on its row."""
        cause: BaseException | None = exc
        while isinstance(cause, ActivityError) and cause.cause is not None:
            cause = cause.cause
        if isinstance(cause, (asyncio.CancelledError, CancelledError)):
            outcome = RecordExportOutcomeInput(
                export_id=inp.export_id,
                status="canceled",
                error_code="canceled",
                error_message="the export was canceled",
            )
        elif isinstance(cause, ApplicationError):
            outcome = RecordExportOutcomeInput(
                export_id=inp.export_id,
                status="failed",
                error_code=export_error_code(cause.type or "internal"),
                error_message=cause.message,
            )
        else:
            outcome = RecordExportOutcomeInput(
                export_id=inp.export_id, status="failed", error_code="internal", error_message=str(cause or exc)
            )
        outcome.export = inp
        await workflow.execute_activity_method(
            ExportActivities.record_export_outcome,
            outcome,
            start_to_close_timeout=retry_policies.RECORD_START_TO_CLOSE,
            schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
            retry_policy=retry_policies.DURABLE_RETRY,
        )

    async def _discard(self, key: str) -> None:
        await workflow.execute_activity_method(
            ExportActivities.discard_export,
            DiscardExportInput(key=key),
            start_to_close_timeout=retry_policies.STORAGE_START_TO_CLOSE,
            schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
            retry_policy=retry_policies.DURABLE_RETRY,
        )
