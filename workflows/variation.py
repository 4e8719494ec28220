"""One variation of a render task: generate (Gemini, staged in S3) then publish (verified,
resized, final key). Runs inside `RenderTaskWorkflow`: deterministic, no I/O of its own."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import CancelledError as TemporalCancelledError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.gemini import GeminiActivities
    from activities.storage import StorageActivities
    from kernel import failure_codes
    from kernel.catalog import expected_dimensions
    from kernel.contract import generate_activity_id, model_task_queue, publish_activity_id
    from kernel.object_keys import final_key
    from kernel.payloads import (
        AssetRecord,
        GeneratedImage,
        GenerateImageInput,
        ImageRef,
        PromptPlan,
        PublishImageInput,
        RenderTaskInput,
        TaskError,
        VariationProgress,
    )
    from workflows import retry_policies
    from workflows.asset_metadata import asset_metadata


# Patch id of the third version: generate_image on the per-model, paced task queue.
V3_MODEL_QUEUE = "v3-model-task-queue"


def _task_error(err: ActivityError, deadline_s: float) -> TaskError:
    """Explain an activity failure with our taxonomy. Retries stopped by the task deadline
    (retry state TIMEOUT, or a schedule-to-close timeout) read `timed_out` with the last error."""
    cause = err.cause
    if err.retry_state == RetryState.TIMEOUT or isinstance(cause, ActivityTimeoutError):
        if isinstance(cause, ActivityTimeoutError):
            cause = cause.cause
        last = (
            f"{failure_codes.api_code(cause.type)}: {cause.message}"
            if isinstance(cause, ApplicationError)
            else str(cause)
        )
        return TaskError(code="timed_out", message=f"task deadline of {deadline_s:.0f} s passed; last error: {last}")
    if isinstance(cause, ApplicationError):
        return TaskError(code=failure_codes.api_code(cause.type), message=cause.message)
    return TaskError(code="internal", message=str(cause or err))


def _is_cancel(err: ActivityError) -> bool:
    return isinstance(err.cause, TemporalCancelledError | asyncio.CancelledError)


def _record_failure(variation: VariationProgress, err: ActivityError, deadline_s: float) -> None:
    """Mark `variation` failed with the activity's error explained; raises CancelledError when
    the activity was canceled (the task is being canceled)."""
    if _is_cancel(err):
        raise asyncio.CancelledError from err
    variation.state = "failed"
    variation.error = _task_error(err, deadline_s)


async def render_variation(
    inp: RenderTaskInput, plan: PromptPlan, index: int, variation: VariationProgress, v2: bool
) -> AssetRecord | None:
    """Generate and publish one variation, updating `variation` as it goes; None (with the
    error recorded on `variation`) when it failed. Raises CancelledError when canceled."""
    variation.state = "generating"
    # v2 waits for activities to acknowledge cancellation, so cleanup runs after their writes.
    cancellation = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED if v2 else ActivityCancellationType.TRY_CANCEL
    # v3: the model call runs on the model's own task queue, paced at the quota for the fleet
    # (activities/quota_pacing.py); histories from before stay on the workflow's queue.
    model_queue = model_task_queue(workflow.info().task_queue, plan.model) if workflow.patched(V3_MODEL_QUEUE) else None
    try:
        generated: GeneratedImage = await workflow.execute_activity_method(
            GeminiActivities.generate_image,
            GenerateImageInput(
                task_id=inp.task_id,
                project_id=inp.project_id,
                variation_index=index,
                plan=plan,
                references=inp.references,
                reuse_staging_key=inp.reuse_staging_keys[index] if index < len(inp.reuse_staging_keys) else None,
            ),
            activity_id=generate_activity_id(index) if v2 else None,
            task_queue=model_queue,
            start_to_close_timeout=retry_policies.GENERATE_START_TO_CLOSE,
            schedule_to_close_timeout=timedelta(seconds=inp.deadline_s),
            heartbeat_timeout=retry_policies.GENERATE_HEARTBEAT,
            retry_policy=retry_policies.MODEL_RETRY,
            cancellation_type=cancellation,
        )
    except ActivityError as err:
        _record_failure(variation, err, inp.deadline_s)
        return None
    return await publish_variation(
        inp, plan, index, variation, generated, publish_activity_id(index) if v2 else None, cancellation
    )


async def publish_variation(
    inp: RenderTaskInput,
    plan: PromptPlan,
    index: int,
    variation: VariationProgress,
    generated: GeneratedImage,
    activity_id: str | None,
    cancellation: ActivityCancellationType,
    extra_metadata: dict[str, Any] | None = None,
) -> AssetRecord | None:
    """Publish variation `index`'s staged image (verified, resized, at its final key) and return
    the asset to record, with `extra_metadata` added to its metadata; None (error on
    `variation`) when the publish failed. Raises CancelledError when canceled. Shared by the
    standard path and batch mode, so both publish exactly alike."""
    variation.state = "publishing"
    if plan.model_width and plan.model_height:
        width, height = plan.model_width, plan.model_height
    else:  # a plan recorded before build_prompt sized it
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
            activity_id=activity_id,
            start_to_close_timeout=retry_policies.STORAGE_START_TO_CLOSE,
            schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
            retry_policy=retry_policies.DURABLE_RETRY,
            cancellation_type=cancellation,
        )
    except ActivityError as err:
        _record_failure(variation, err, inp.deadline_s)
        return None
    variation.state = "succeeded"
    metadata = asset_metadata(
        inp, plan, generated, published, index, workflow.info().workflow_id, workflow.info().run_id
    )
    return AssetRecord(
        variation_index=index,
        image=published,
        asset_type=plan.asset_type,
        parent_asset_ids=[r.asset_id for r in inp.references],
        metadata={**metadata, **(extra_metadata or {})},
    )
