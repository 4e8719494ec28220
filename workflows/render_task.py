"""`RenderTaskWorkflow`: prompt -> n concurrent Gemini calls -> S3 -> Postgres rows.

Deterministic and light: no I/O, no image bytes (activities pass S3 references). Progress is
published two ways: the `RenderStage` search attribute (read by the API through visibility,
no live worker needed) and the `progress` query (per-variation detail, needs a worker).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.gemini import GeminiActivities
    from activities.prompt import build_prompt
    from activities.records import RecordActivities
    from activities.storage import StorageActivities
    from studio import error_codes
    from studio.catalog import expected_dimensions
    from studio.object_keys import final_key
    from studio.payloads import (
        AssetRecord,
        BuildPromptInput,
        GeneratedImage,
        GenerateImageInput,
        ImageRef,
        PromptPlan,
        PublishImageInput,
        RecordAssetsInput,
        RenderTaskInput,
        RenderTaskResult,
        Stage,
        TaskError,
        TaskProgress,
        VariationProgress,
    )
    from studio.search_attributes import ERROR_CODE, RENDER_STAGE
    from workflows import policies


def _task_error(err: ActivityError) -> TaskError:
    """Explain an activity failure with our taxonomy."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return TaskError(code=error_codes.api_code(cause.type), message=cause.message)
    if isinstance(cause, ActivityTimeoutError):
        last = str(cause.cause) if cause.cause is not None else "no answer"
        return TaskError(code="timed_out", message=f"gave up at the task deadline; last error: {last}")
    return TaskError(code="internal", message=str(cause or err))


@workflow.defn
class RenderTaskWorkflow:
    """One render task. Workflow id `task-<task uuid>` (see `db.tasks.workflow_id_for`)."""

    def __init__(self) -> None:
        self._progress = TaskProgress(stage="queued", variations=[])

    @workflow.query
    def progress(self) -> TaskProgress:
        """Live stage and per-variation state."""
        return self._progress

    def _set_stage(self, stage: Stage) -> None:
        self._progress.stage = stage
        workflow.upsert_search_attributes([RENDER_STAGE.value_set(stage)])

    @workflow.run
    async def run(self, inp: RenderTaskInput) -> RenderTaskResult:
        """Render `inp.params.n` variations; fail (ApplicationError, non-retryable) when none
        was delivered, with the first failure's code as type and the progress as details."""
        self._progress.variations = [VariationProgress(index=i) for i in range(inp.params.n)]
        self._set_stage("building_prompt")
        plan = await workflow.execute_activity(
            build_prompt,
            BuildPromptInput(task_id=inp.task_id, prompt=inp.prompt, params=inp.params),
            start_to_close_timeout=policies.PROMPT_START_TO_CLOSE,
            retry_policy=policies.PROMPT_RETRY,
        )
        self._set_stage("generating")
        outcomes = await asyncio.gather(*(self._render_variation(inp, plan, i) for i in range(inp.params.n)))
        delivered = [o for o in outcomes if o is not None]
        if not delivered:
            errors = [v.error for v in self._progress.variations if v.error is not None]
            first = errors[0] if errors else TaskError(code="internal", message="no variation was delivered")
            self._progress.stage = "failed"
            workflow.upsert_search_attributes([RENDER_STAGE.value_set("failed"), ERROR_CODE.value_set(first.code)])
            raise ApplicationError(first.message, self._progress, type=first.code, non_retryable=True)

        self._set_stage("recording")
        recorded = await workflow.execute_activity_method(
            RecordActivities.record_assets,
            RecordAssetsInput(task_id=inp.task_id, project_id=inp.project_id, assets=delivered),
            start_to_close_timeout=policies.RECORD_START_TO_CLOSE,
            schedule_to_close_timeout=policies.DURABLE_SCHEDULE_TO_CLOSE,
            retry_policy=policies.DURABLE_RETRY,
        )
        for asset, asset_id in zip(delivered, recorded.asset_ids, strict=True):
            self._progress.variations[asset.variation_index].asset_id = asset_id
        self._set_stage("completed")
        return RenderTaskResult(progress=self._progress, asset_ids=recorded.asset_ids)

    async def _render_variation(self, inp: RenderTaskInput, plan: PromptPlan, index: int) -> AssetRecord | None:
        """Generate and publish one variation; None (with the error recorded) when it failed."""
        variation = self._progress.variations[index]
        variation.state = "generating"
        try:
            generated: GeneratedImage = await workflow.execute_activity_method(
                GeminiActivities.generate_image,
                GenerateImageInput(task_id=inp.task_id, project_id=inp.project_id, variation_index=index, plan=plan),
                start_to_close_timeout=policies.GENERATE_START_TO_CLOSE,
                schedule_to_close_timeout=timedelta(seconds=inp.deadline_s),
                heartbeat_timeout=policies.GENERATE_HEARTBEAT,
                retry_policy=policies.MODEL_RETRY,
            )
            variation.state = "publishing"
            width, height = expected_dimensions(plan.model, plan.aspect_ratio, plan.image_size)
            published: ImageRef = await workflow.execute_activity_method(
                StorageActivities.publish_image,
                PublishImageInput(
                    staged=generated.staged,
                    final_key=final_key(inp.project_id, inp.task_id, index, generated.staged.mime),
                    expected_width=width,
                    expected_height=height,
                ),
                start_to_close_timeout=policies.STORAGE_START_TO_CLOSE,
                schedule_to_close_timeout=policies.DURABLE_SCHEDULE_TO_CLOSE,
                retry_policy=policies.DURABLE_RETRY,
            )
        except ActivityError as err:
            if isinstance(err.cause, asyncio.CancelledError):
                raise
            variation.state = "failed"
            variation.error = _task_error(err)
            return None
        variation.state = "succeeded"
        return AssetRecord(
            variation_index=index,
            image=published,
            metadata={
                "prompt": plan.prompt,
                "user_prompt": inp.prompt,
                "model": plan.model,
                "parameters": inp.params.model_dump(),
                "model_version": generated.model_version,
                "response_id": generated.response_id,
                "usage": generated.usage,
                "lineage": {
                    "task_id": inp.task_id,
                    "variation_index": index,
                    "workflow_id": workflow.info().workflow_id,
                    "run_id": workflow.info().run_id,
                    "parent_asset_ids": [],
                },
            },
        )
