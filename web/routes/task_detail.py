"""One task: its variations side by side at equal size, a two-image compare, the winner pick
(through `POST /api/v1/tasks/{id}/review` from the page), the final prompt, parameters, model
version and token usage (from the assets' metadata, written by the workflow)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import ResourcesDep, SessionDep
from api.task_status import describe_task
from api.task_view import task_public
from db.assets import AssetFilters, list_project_assets
from web.asset_cards import asset_cards
from web.page_errors import project_page_or_404, task_page_or_404
from web.session import SignedInDep
from web.templating import render

router = APIRouter()

MAX_VARIATIONS = 8


@router.get("/tasks/{task_id}")
async def task_page(
    task_id: uuid.UUID, request: Request, session: SessionDep, resources: ResourcesDep, signed: SignedInDep
) -> Response:
    """The task's detail page."""
    task = await task_page_or_404(session, signed.user, task_id)
    project = await project_page_or_404(session, signed.user, task.project_id)
    derived = await describe_task(resources.temporal, task.workflow_id, resources.terminal_statuses)
    view = task_public(task, derived, resources.settings)
    rows, _ = await list_project_assets(session, project.id, AssetFilters(task_id=task.id), None, MAX_VARIATIONS)
    rows.sort(key=lambda a: a.variation_index or 0)
    first: dict[str, Any] = rows[0].metadata_ if rows else {}
    usage = [{"variation": a.variation_index, **(a.metadata_.get("usage") or {})} for a in rows]
    return render(
        request,
        "task.html",
        signed,
        project=project,
        task=view,
        cards=await asset_cards(rows, resources),
        final_prompt=first.get("prompt"),
        model_version=first.get("model_version"),
        usage=usage,
        awaiting_review=view.stage == "awaiting_review",
    )
