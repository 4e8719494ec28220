"""One variation of a batch task once its Gemini batch job answered: publish the staged image
exactly as the standard path does (`workflows/variation.py`: same activity, id, key, checks and
asset record) or record why there is none. Runs inside `RenderTaskWorkflow`."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.storage import StorageActivities
    from kernel.batch_payloads import BatchItemOutcome
    from kernel.catalog import expected_dimensions
    from kernel.contract import publish_activity_id
    from kernel.object_keys import final_key
    from kernel.payloads import (
        AssetRecord,
        ImageRef,
        PromptPlan,
        PublishImageInput,
        RenderTaskInput,
        TaskError,
        VariationProgress,
    )
    from workflows import retry_policies
    from workflows.asset_metadata import asset_metadata
    from workflows.variation import _is_cancel, _task_error


async def publish_batch_variation(
    inp: RenderTaskInput, plan: PromptPlan, index: int, variation: VariationProgress, outcome: BatchItemOutcome
) -> AssetRecord | None:
    """Publish variation `index` from its batch outcome, updating `variation`; None (error on
    `variation`) when the batch gave no image or the publish failed. Raises CancelledError."""
    generated = outcome.generated
    if generated is None:
        variation.state = "failed"
        variation.error = outcome.error or TaskError(code="internal", message="the batch job gave no outcome")
        return None
    variation.state = "publishing"
    width, height = expected_dimensions(plan.model, plan.aspect_ratio, plan.image_size)
    try:
        published: ImageRef = await workflow.execute_activity_method(
            StorageActivities.publish_image,
            PublishImageInput(
                staged=generated.staged,
                # Resized images are re-encoded as PNG.
                final_key=final_key(
                    inp.project_id, inp.task_id, index, "image/png" if plan.output_width else generated.staged.mime
                ),
                expected_width=width,
                expected_height=height,
                output_width=plan.output_width,
                output_height=plan.output_height,
            ),
            activity_id=publish_activity_id(index),
            start_to_close_timeout=retry_policies.STORAGE_START_TO_CLOSE,
            schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
            retry_policy=retry_policies.DURABLE_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
    except ActivityError as err:
        if _is_cancel(err):
            raise asyncio.CancelledError from err
        variation.state = "failed"
        variation.error = _task_error(err, inp.deadline_s)
        return None
    variation.state = "succeeded"
    metadata = asset_metadata(
        inp, plan, generated, published, index, workflow.info().workflow_id, workflow.info().run_id
    )
    metadata["batch"] = {"job": variation.batch_job}
    return AssetRecord(
        variation_index=index,
        image=published,
        asset_type=plan.asset_type,
        parent_asset_ids=[r.asset_id for r in inp.references],
        metadata=metadata,
    )
