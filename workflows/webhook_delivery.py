"""`DeliverWebhookWorkflow`: delivers one webhook message with retries over hours.

Started by `RenderTaskWorkflow` as a child with parent-close policy ABANDON, so a slow or
down receiver never holds a task's status back.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.webhook_delivery import WebhookActivities
    from kernel.payloads import WebhookDelivery

# Standard Webhooks suggests retrying for about a day with growing gaps.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=30),
    maximum_attempts=0,
    non_retryable_error_types=["UnsafeWebhookUrl"],
)


@workflow.defn
class DeliverWebhookWorkflow:
    """One message; id `webhook-<task id>-<event type>`."""

    @workflow.run
    async def run(self, delivery: WebhookDelivery) -> int:
        """Returns the receiver's 2xx status; fails after 24 h of refusals."""
        return await workflow.execute_activity_method(
            WebhookActivities.deliver_webhook,
            delivery,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(hours=24),
            retry_policy=DELIVERY_RETRY,
        )
