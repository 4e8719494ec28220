"""Reading a model queue's daily-quota pause from Temporal (`kernel/quota_pause.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from kernel.quota_pause import paused_until

DESCRIBE_TIMEOUT = timedelta(seconds=5)


async def queue_paused_until(client: Client, namespace: str, task_queue: str) -> datetime | None:
    """The end of the daily-quota pause of activity queue `task_queue` (UTC), or None when it is
    not paused. One DescribeTaskQueue with its config; raises temporalio's RPCError."""
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            report_config=True,
        ),
        timeout=DESCRIBE_TIMEOUT,
    )
    limit = described.config.queue_rate_limit
    return paused_until(limit.rate_limit.requests_per_second, limit.metadata.reason, datetime.now(UTC))
