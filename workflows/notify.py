"""Task webhooks from inside `RenderTaskWorkflow` (deterministic: ids and timestamps come from
the task and `workflow.now()`)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from kernel.payloads import RenderTaskInput, TaskError, WebhookDelivery
    from workflows.webhook_delivery import DeliverWebhookWorkflow


async def notify(inp: RenderTaskInput, status: str, asset_ids: list[str], error: TaskError | None = None) -> None:
    """Start the delivery of `task.<status>` when the task has a webhook URL. The child is
    abandoned on purpose: the task finishes now, the delivery retries for up to a day."""
    if not inp.webhook_url or not inp.owner_id:
        return
    event = f"task.{status}"
    payload = {
        "type": event,
        "timestamp": workflow.now().isoformat(),
        "data": {
            "task_id": inp.task_id,
            "project_id": inp.project_id,
            "status": status,
            "asset_ids": asset_ids,
            "error": error.model_dump() if error else None,
        },
    }
    await workflow.start_child_workflow(
        DeliverWebhookWorkflow.run,
        WebhookDelivery(
            owner_id=inp.owner_id,
            url=inp.webhook_url,
            message_id=f"msg_{inp.task_id}_{status}",
            event_type=event,
            payload=payload,
        ),
        id=f"webhook-{inp.task_id}-{status}",
        parent_close_policy=ParentClosePolicy.ABANDON,
    )
