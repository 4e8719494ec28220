"""An export's status from its `ExportWorkflow` (there is no status column), as for tasks
(api/task_status.py): `describe()` needs no live worker; progress comes from the pending build
activity's heartbeat details (`done`, `total`), the result or failure from the closed workflow.
A finished export's file, or how it ended without one, is also on its row (the workflow records
both), which is what is read once Temporal's retention dropped the workflow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.export_schemas import ExportStatus
from db.models import Export
from kernel.exports import EXPORT_CONTENT_TYPES, ExportFile, export_error_code
from kernel.payloads import TaskError

_CLOSED: dict[WorkflowExecutionStatus, ExportStatus] = {
    WorkflowExecutionStatus.COMPLETED: "succeeded",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
}


@dataclass
class ExportState:
    """What the workflow says: status, images done of total (None: no heartbeat yet), the
    file once succeeded, the error once failed."""

    status: ExportStatus
    done: int | None = None
    total: int | None = None
    file: ExportFile | None = None
    error: TaskError | None = None


async def export_state(client: Client, export: Export) -> ExportState:
    """The export's state: from its row once its file, or its failure or cancel, was recorded
    (no Temporal call, and still right after Temporal's retention dropped the workflow), else
    from its workflow. Raises RPCError when Temporal is unreachable for an unfinished export."""
    if export.completed_at is not None and export.file_key and export.byte_size is not None and export.sha256:
        file = ExportFile(
            key=export.file_key,
            content_type=EXPORT_CONTENT_TYPES[export.format],
            size=export.byte_size,
            sha256=export.sha256,
            images=len(export.asset_ids),
        )
        return ExportState(status="succeeded", done=file.images, total=file.images, file=file)
    if export.ended_at is not None and export.outcome in ("failed", "canceled"):
        error = TaskError(code=export.error_code or "internal", message=export.error_message or export.outcome)
        return ExportState(status="failed" if export.outcome == "failed" else "canceled", error=error)
    return await describe_export(client, export.workflow_id)


async def describe_export(client: Client, workflow_id: str) -> ExportState:
    """The export's state. Raises RPCError when Temporal is unreachable (the API answers 503)."""
    handle = client.get_workflow_handle(workflow_id, result_type=ExportFile)
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return ExportState(status="queued")
        raise
    if desc.status in (None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
        return await _running(client, desc.raw_description.pending_activities)
    state = ExportState(status=_CLOSED.get(desc.status, "failed"))
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        state.file = await handle.result()
    elif desc.status == WorkflowExecutionStatus.FAILED:
        try:
            await handle.result()
        except WorkflowFailureError as err:
            state.error = _error_of(err)
    elif desc.status == WorkflowExecutionStatus.CANCELED:
        state.error = TaskError(code="canceled", message="the export was canceled")
    return state


async def _running(client: Client, pending: Sequence[PendingActivityInfo]) -> ExportState:
    """`running` once the build started (with its heartbeat's progress), else `queued`."""
    for activity in pending:
        started = activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        if activity.heartbeat_details.payloads:
            [details] = await client.data_converter.decode(activity.heartbeat_details.payloads[:1], [dict])
            if isinstance(details, dict):
                return ExportState(status="running", done=int(details.get("done", 0)), total=details.get("total"))
        if started or activity.activity_id != "build":
            return ExportState(status="running")
    return ExportState(status="queued")


def _error_of(err: WorkflowFailureError) -> TaskError:
    cause: BaseException | None = err.cause
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        return TaskError(code=export_error_code(cause.type or "internal"), message=cause.message)
    if isinstance(cause, CancelledError):
        return TaskError(code="canceled", message="the export was canceled")
    return TaskError(code="internal", message=str(cause or err))
