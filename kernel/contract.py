"""The contract between the API and the render workflow, in one place.

The API never imports workflow code: it starts, queries, updates and describes workflows by
the names below, and the workflow declares itself with the same names. Changing any of them
breaks running workflows and recorded histories (tests/histories): treat them as a wire format.
"""

from __future__ import annotations

import uuid

# Workflow type of one render task (`@workflow.defn(name=...)`, `client.start_workflow(...)`).
RENDER_TASK_WORKFLOW = "RenderTaskWorkflow"
# Its live progress (`TaskProgress`), answered by a running worker.
PROGRESS_QUERY = "progress"
# The reviewer's decision (`ReviewDecision` -> `ReviewOutcome`), a validated Update.
REVIEW_UPDATE = "review"

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c2b9e-4a0d-4c55-9d0e-2f7d1c3a8b41")


def workflow_id_for(task_id: uuid.UUID) -> str:
    """`task-<task uuid>`: derived, so a second start for the same task is refused by Temporal."""
    return f"task-{task_id}"


def task_id_for_idempotency_key(owner_id: uuid.UUID, key: str, generation: int = 0) -> uuid.UUID:
    """The task id a user's Idempotency-Key maps to (UUIDv5 of `<owner>:<key>`): the same key
    always names the same task, hence the same workflow id, so Temporal refuses a second start.

    `generation` n > 0 names the n-th task of a key whose earlier tasks' keys expired
    (housekeeping clears `tasks.idempotency_key` after IDEMPOTENCY_KEY_TTL_DAYS): UUIDv5 of
    `<owner>:<key>#<n>`. Generation 0 is the original derivation, unchanged."""
    suffix = f"#{generation}" if generation else ""
    return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{owner_id}:{key}{suffix}")


def generate_activity_id(index: int) -> str:
    """Activity id of variation `index`'s model call; the API reads pending retries by it."""
    return f"generate-{index}"


def publish_activity_id(index: int) -> str:
    """Activity id of variation `index`'s publish step."""
    return f"publish-{index}"


def variation_of_generate_activity(activity_id: str) -> int | None:
    """The variation index of a `generate-<i>` activity id, or None for any other activity."""
    kind, _, index = activity_id.partition("-")
    return int(index) if kind == "generate" and index.isdigit() else None


def model_task_queue(base_task_queue: str, model: str) -> str:
    """The activity task queue of `model`'s calls, beside the workflows' `base_task_queue`:
    its dispatch rate is the fleet's pace at the model's quota (activities/quota_pacing.py)."""
    return f"{base_task_queue}-model-{model}"


# Batch mode (issue 12): one collector per task queue and model gathers batch tasks' variations
# into Gemini batch jobs, one `GeminiBatchJobWorkflow` per job; they signal the tasks.
BATCH_COLLECTOR_WORKFLOW = "BatchCollectorWorkflow"
GEMINI_BATCH_JOB_WORKFLOW = "GeminiBatchJobWorkflow"
# Collector signals (`AddBatchItems`, `WithdrawTask`); a job workflow also takes WITHDRAW_SIGNAL.
ADD_BATCH_ITEMS_SIGNAL = "add_items"
WITHDRAW_SIGNAL = "withdraw"
# Task signals (`BatchAssigned`, `BatchResults`).
BATCH_ASSIGNED_SIGNAL = "batch_assigned"
BATCH_RESULTS_SIGNAL = "batch_results"


def batch_collector_id(task_queue: str, model: str) -> str:
    """`batch-collector-<model>-<task queue>`: one collector per model and task queue, so a
    signal-with-start from any worker reaches the same one."""
    return f"batch-collector-{model}-{task_queue}"


# Exports and housekeeping (issue 13): one `ExportWorkflow` per export (`export-<uuid>`), one
# `HousekeepingWorkflow` run per schedule action, on the main task queue.
EXPORT_WORKFLOW = "ExportWorkflow"
HOUSEKEEPING_WORKFLOW = "HousekeepingWorkflow"
HOUSEKEEPING_SCHEDULE_PREFIX = "housekeeping-"


def export_workflow_id(export_id: uuid.UUID) -> str:
    """`export-<export uuid>`: derived, so a second start for the same export is refused."""
    return f"export-{export_id}"


def housekeeping_schedule_id(job: str) -> str:
    """`housekeeping-<job>` (`expire-exports`, ...): one Temporal Schedule per job."""
    return HOUSEKEEPING_SCHEDULE_PREFIX + job.replace("_", "-")
