"""Creating a task: the row first, then its workflow.

Ordering: the row is committed before the workflow starts, because the workflow's activities
write rows that reference it. If the start fails (Temporal unreachable) the row is deleted and
the client gets a 503: nothing was accepted, so nothing is lost.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.errors import DependencyUnavailable
from api.schemas import TaskCreate
from db.models import Task
from db.tasks import create_task, delete_task
from studio.payloads import RenderParams, RenderTaskInput
from studio.search_attributes import PROJECT_ID, RENDER_STAGE, TASK_ID
from studio.settings import Settings

log = logging.getLogger(__name__)

WORKFLOW_NAME = "RenderTaskWorkflow"


def temporal_ui_url(settings: Settings, workflow_id: str) -> str:
    """Link to the workflow in the Temporal Web UI."""
    return f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}"


async def start_task(
    session: AsyncSession, client: Client, settings: Settings, project_id: uuid.UUID, body: TaskCreate
) -> Task:
    """Insert the task and start its workflow; raises DependencyUnavailable (503) when the
    workflow cannot be started (the row is then removed)."""
    task = await create_task(session, project_id, body.name, body.description, body.prompt, body.parameters())
    await session.commit()
    workflow_input = RenderTaskInput(
        task_id=str(task.id),
        project_id=str(project_id),
        prompt=body.prompt,
        params=RenderParams.model_validate(body.parameters()),
        deadline_s=settings.task_deadline_s,
    )
    try:
        await client.start_workflow(
            WORKFLOW_NAME,
            workflow_input,
            id=task.workflow_id,
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(PROJECT_ID, str(project_id)),
                    SearchAttributePair(TASK_ID, str(task.id)),
                    SearchAttributePair(RENDER_STAGE, "queued"),
                ]
            ),
            rpc_timeout=timedelta(seconds=10),
        )
    except WorkflowAlreadyStartedError:
        log.info("workflow %s was already started", task.workflow_id)
    except (RPCError, RuntimeError) as exc:  # RuntimeError: a lazy client that cannot connect
        log.warning("could not start workflow %s: %s", task.workflow_id, exc)
        await delete_task(session, task.id)
        await session.commit()
        raise DependencyUnavailable("temporal is unavailable; the task was not created, retry shortly") from exc
    return task
