"""What a worker registers: every workflow, and the activities of the given activity objects.

One list, shared by `studio worker` (studio/worker.py) and replay (studio/replay.py), so a
workflow added here is both run and replay-checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.exports import ExportActivities
from activities.gemini import GeminiActivities
from activities.gemini_batch import BatchActivities
from activities.housekeeping import HousekeepingActivities
from activities.prompt import build_prompt
from activities.records import RecordActivities
from activities.storage import StorageActivities
from activities.webhook_delivery import WebhookActivities
from workflows.batch_collector import BatchCollectorWorkflow
from workflows.batch_job import GeminiBatchJobWorkflow
from workflows.export import ExportWorkflow
from workflows.housekeeping import HousekeepingWorkflow
from workflows.render_task import RenderTaskWorkflow
from workflows.webhook_delivery import DeliverWebhookWorkflow

WORKFLOWS: list[type] = [
    RenderTaskWorkflow,
    DeliverWebhookWorkflow,
    BatchCollectorWorkflow,
    GeminiBatchJobWorkflow,
    ExportWorkflow,
    HousekeepingWorkflow,
]


def activities(
    gemini: GeminiActivities,
    storage: StorageActivities,
    records: RecordActivities,
    webhooks: WebhookActivities,
    batch: BatchActivities,
) -> list[Callable[..., Any]]:
    """The activity functions a worker runs, bound to its clients."""
    return [
        records.ensure_task_row,
        build_prompt,
        gemini.generate_image,
        storage.publish_image,
        storage.discard_task_objects,
        records.record_assets,
        records.set_asset_states,
        records.delete_assets,
        webhooks.deliver_webhook,
        batch.enqueue_batch_items,
        batch.withdraw_batch_items,
        batch.submit_batch_job,
        batch.get_batch_job_state,
        batch.cancel_batch_job,
        batch.stage_batch_results,
    ]


def export_activities(exports: ExportActivities, housekeeping: HousekeepingActivities) -> list[Callable[..., Any]]:
    """The export and housekeeping activities (issue 13), bound to the worker's clients."""
    return [
        exports.build_zip_export,
        exports.build_contact_sheet,
        exports.build_video_export,
        exports.record_export,
        exports.record_export_outcome,
        exports.discard_export,
        housekeeping.expire_export_files,
        housekeeping.expire_idempotency_keys,
        housekeeping.sweep_staged_objects,
        housekeeping.sweep_abandoned_uploads,
    ]
