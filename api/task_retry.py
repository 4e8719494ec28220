"""`POST /tasks/{id}/retry`: a new task, linked to the old one, for what the old one did not
deliver.

Choice (documented in docs/decisions.md): a retry is a *new task* (`retry_of_task_id` points
back), not a new run of the old workflow, so every task keeps one workflow and one history. It
renders only the variations the old task did not deliver; delivered ones stay with the old task
and are not paid for again, and an image the old task had already staged (a terminated task
skips cleanup) is reused instead of calling the model.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.error_responses import Conflict
from api.schemas import TaskCreate
from api.task_service import Created, RetryOf, create_task
from api.task_status import describe_task
from clients.settings import Settings
from db.models import Project, Task
from db.session import SessionFactory
from kernel.object_keys import staging_key

RETRYABLE = {"failed", "canceled", "timed_out", "terminated"}


async def retry_task(
    session: AsyncSession,
    sessions: SessionFactory,
    client: Client,
    settings: Settings,
    project: Project,
    task: Task,
    key: str | None,
) -> Created:
    """Create the retry task. Raises Conflict (409) when the task is running, or succeeded with
    every variation delivered."""
    derived = await describe_task(client, task.workflow_id)
    params = task.parameters
    n = int(params.get("n", 1))
    delivered = (
        {v.index for v in derived.variations if v.state == "succeeded"} if derived.status != "canceled" else set()
    )
    if derived.status not in RETRYABLE and not (derived.status == "succeeded" and len(delivered) < n):
        raise Conflict(
            f"only failed, canceled, timed-out or partly delivered tasks can be retried (task is {derived.status})"
        )
    redo = [i for i in range(n) if i not in delivered]
    body = TaskCreate(
        name=task.name,
        prompt=task.prompt,
        description=task.description,
        n=len(redo),
        model=params["model"],
        aspect_ratio=params.get("aspect_ratio", "1:1"),
        image_size=params.get("image_size"),
        asset_type=params.get("asset_type", "image"),
        reference_asset_ids=params.get("reference_asset_ids", []),
        # A batch task's retry stays a batch task (its price, its place behind interactive work).
        priority=params.get("priority") or "interactive",
        mode=params.get("mode") or "standard",
        webhook_url=params.get("webhook_url"),
        review=bool(params.get("review")) and len(redo) > 1,
        review_timeout_s=params.get("review_timeout_s") if params.get("review") and len(redo) > 1 else None,
    )
    reuse: list[str | None] = [staging_key(str(task.project_id), str(task.id), i) for i in redo]
    retry_of = RetryOf(task.id, reuse)
    return await create_task(session, sessions, client, settings, project.owner_id, project, body, key, retry_of)
