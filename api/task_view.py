"""The API's view of a task: its row plus the status derived from its workflow."""

from __future__ import annotations

from api.schemas import Cost, DerivedStatus, TaskPublic
from clients.settings import Settings
from db.costs import worst_case_micro_usd
from db.models import Task


def temporal_ui_url(settings: Settings, workflow_id: str) -> str:
    """Link to the workflow in the Temporal Web UI."""
    return f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}"


def task_public(
    task: Task, derived: DerivedStatus, settings: Settings, cost_micro_usd: int | None = None
) -> TaskPublic:
    """The API view of a task with its derived status and, when known, the summed cost of its
    delivered images (integer micro-dollars, `db.costs.task_costs`)."""
    return TaskPublic.model_validate(
        {
            **dict(derived),
            "id": task.id,
            "project_id": task.project_id,
            "name": task.name,
            "description": task.description,
            "prompt": task.prompt,
            "parameters": task.parameters,
            "workflow_id": task.workflow_id,
            "temporal_ui_url": temporal_ui_url(settings, task.workflow_id),
            "retry_of_task_id": task.retry_of_task_id,
            "created_at": task.created_at,
            "cost": Cost.of(cost_micro_usd),
            "estimated_cost": Cost.of(worst_case_micro_usd(task.parameters)),
        }
    )
