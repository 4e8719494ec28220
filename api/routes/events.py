"""`GET /tasks/{id}/events`: the task's progress as Server-Sent Events.

Each `status` event carries the whole task view (stage, per-variation progress, final state),
so resuming needs no event log: the event id is a digest of that view, and a client that
reconnects with `Last-Event-ID` gets the next event only when the task has changed since. The
stream sends `end` and closes once the task is terminal. Framing, the keep-alive comment every
KEEPALIVE_S seconds (proxies close idle streams), disconnects and server shutdown are
sse-starlette's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.deps import CurrentUser, ResourcesDep, SessionDep
from api.error_responses import NotFound, responses
from api.state import ApiResources
from api.task_status import describe_task
from api.task_view import task_public
from db.models import Task
from db.tasks import get_owned_task

router = APIRouter(tags=["tasks"])

POLL_S = 0.5
KEEPALIVE_S = 15.0
TERMINAL = {"succeeded", "failed", "canceled", "timed_out", "terminated"}


async def _stream(task: Task, resources: ApiResources, last_event_id: str | None) -> AsyncIterator[ServerSentEvent]:
    sent = last_event_id
    while True:
        view = task_public(
            task,
            await describe_task(resources.temporal, task.workflow_id, resources.terminal_statuses),
            resources.settings,
        )
        # The view holds no presigned URLs, so equal digests mean an unchanged task.
        data = view.model_dump_json()
        digest = hashlib.sha256(data.encode()).hexdigest()[:16]
        if digest != sent:
            yield ServerSentEvent(data, event="status", id=digest)
            sent = digest
        if view.status in TERMINAL:
            yield ServerSentEvent(json.dumps({"status": view.status}), event="end")
            return
        await asyncio.sleep(POLL_S)


@router.get(
    "/tasks/{task_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **responses(401, 404)},
)
async def task_events(
    task_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    resources: ResourcesDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """Stream `status` events (the task view, on every change) and a final `end` event."""
    task = await get_owned_task(session, user.id, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return EventSourceResponse(_stream(task, resources, last_event_id), ping=KEEPALIVE_S, sep="\n")
