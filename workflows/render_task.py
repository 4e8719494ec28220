"""`RenderTaskWorkflow`: task row -> prompt -> n concurrent Gemini calls -> S3 -> Postgres rows.

Deterministic and light: no I/O, no image bytes (activities pass S3 references). Progress is
published two ways: the `RenderStage` search attribute (read by the API through visibility,
no live worker needed) and the `progress` query (per-variation detail, needs a worker).

Versioning: histories recorded before patch `V2` (tests/histories/*_v1_*) replay without the
task-row activity, the explicit activity ids and the cancel cleanup; new runs take all three.
Batch mode (`params.mode == "batch"`, issue 12) is a branch only such tasks take: it hands the
variations to the model's collector and waits durably for their outcomes (signals from the
`GeminiBatchJobWorkflow`), then publishes and records as the standard path does. Standard
tasks issue exactly the commands they did before, so their histories replay unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.gemini_batch import BatchActivities
    from activities.prompt import build_prompt
    from activities.records import RecordActivities
    from activities.storage import StorageActivities
    from kernel import failure_codes
    from kernel.batch_payloads import (
        BatchAssigned,
        BatchItem,
        BatchItemOutcome,
        BatchResults,
        EnqueueBatchInput,
        WithdrawBatchInput,
    )
    from kernel.contract import (
        BATCH_ASSIGNED_SIGNAL,
        BATCH_RESULTS_SIGNAL,
        PROGRESS_QUERY,
        RENDER_TASK_WORKFLOW,
        REVIEW_UPDATE,
    )
    from kernel.payloads import (
        AssetIdsInput,
        AssetRecord,
        AssetStatesInput,
        BuildPromptInput,
        PromptPlan,
        RecordAssetsInput,
        RenderTaskInput,
        RenderTaskResult,
        ReviewDecision,
        ReviewOutcome,
        ReviewSettings,
        Stage,
        TaskError,
        TaskObjectsInput,
        TaskProgress,
        VariationProgress,
    )
    from kernel.search_attributes import ERROR_CODE, RENDER_STAGE
    from workflows import retry_policies
    from workflows.batch_variation import publish_batch_variation
    from workflows.notify import notify
    from workflows.review import decide
    from workflows.variation import render_variation

# Patch id of the second version: ensure_task_row, activity ids `generate-<i>`, cancel cleanup.
V2 = "v2-task-row-activity-ids-cancel-cleanup"
# Patch id of the fourth version: a task canceled after recording its assets deletes their rows.
V4_CANCEL_DELETES_ROWS = "v4-cancel-deletes-recorded-assets"


@workflow.defn(name=RENDER_TASK_WORKFLOW)
class RenderTaskWorkflow:
    """One render task. Workflow id `task-<task uuid>`; its names are the API's contract
    (kernel/contract.py)."""

    def __init__(self) -> None:
        self._progress = TaskProgress(stage="queued", variations=[])
        self._v2 = False
        self._asset_ids: list[str] = []
        self._decision: ReviewDecision | None = None
        self._batch_model: str | None = None  # set once batch items may be in a collector
        self._batch_job_workflow_ids: list[str] = []
        self._batch_outcomes: dict[int, BatchItemOutcome] = {}

    @workflow.signal(name=BATCH_ASSIGNED_SIGNAL)
    def batch_assigned(self, assigned: BatchAssigned) -> None:
        """Batch mode: the job workflow (and, once submitted, the Gemini job) holding our items."""
        if assigned.job_workflow_id not in self._batch_job_workflow_ids:
            self._batch_job_workflow_ids.append(assigned.job_workflow_id)
        if assigned.job_name is not None:
            for index in assigned.variation_indexes:
                if 0 <= index < len(self._progress.variations):
                    self._progress.variations[index].batch_job = assigned.job_name

    @workflow.signal(name=BATCH_RESULTS_SIGNAL)
    def batch_results(self, results: BatchResults) -> None:
        """Batch mode: outcomes of our variations (the first one per variation counts)."""
        for outcome in results.outcomes:
            if 0 <= outcome.variation_index < len(self._progress.variations):
                self._batch_outcomes.setdefault(outcome.variation_index, outcome)

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> TaskProgress:
        """Live stage and per-variation state."""
        return self._progress

    @workflow.update(name=REVIEW_UPDATE)
    async def review(self, decision: ReviewDecision) -> ReviewOutcome:
        """Pick the winner of a task awaiting review; returns once the asset states are set."""
        self._decision = decision
        await workflow.wait_condition(lambda: self._progress.review is not None)
        return self._progress.review or ReviewOutcome(decided_by="user", winner_asset_id=None, approved=[], archived=[])

    @review.validator
    def _validate_review(self, decision: ReviewDecision) -> None:
        """Refuse a review the task is not waiting for, a second decision, or a foreign asset."""
        if self._decision is not None or self._progress.review is not None:
            raise ApplicationError("the review was already decided", type="ReviewClosed")
        if self._progress.stage != "awaiting_review":
            raise ApplicationError(
                f"the task is not awaiting a review (stage {self._progress.stage})", type="ReviewClosed"
            )
        if decision.winner_asset_id not in self._asset_ids:
            raise ApplicationError(
                f"asset {decision.winner_asset_id} is not one of this task's variations", type="UnknownAsset"
            )

    async def _await_review(self, review: ReviewSettings) -> None:
        """Wait durably (days if need be) for the `review` Update, or expire to the default."""
        self._set_stage("awaiting_review")
        with contextlib.suppress(TimeoutError):  # expired: the default decides
            await workflow.wait_condition(
                lambda: self._decision is not None, timeout=timedelta(seconds=review.timeout_s)
            )
        winner = self._decision.winner_asset_id if self._decision is not None else None
        outcome = decide(self._asset_ids, winner, review.on_expiry)
        await workflow.execute_activity_method(
            RecordActivities.set_asset_states,
            AssetStatesInput(approved=outcome.approved, archived=outcome.archived),
            start_to_close_timeout=retry_policies.RECORD_START_TO_CLOSE,
            schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
            retry_policy=retry_policies.DURABLE_RETRY,
        )
        self._progress.review = outcome

    def _set_stage(self, stage: Stage) -> None:
        self._progress.stage = stage
        workflow.upsert_search_attributes([RENDER_STAGE.value_set(stage)])

    async def _withdraw_batch(self) -> None:
        """Batch mode: take this task's items out of its collector and job workflows."""
        assert self._batch_model is not None
        await workflow.execute_activity_method(
            BatchActivities.withdraw_batch_items,
            WithdrawBatchInput(
                model=self._batch_model,
                task_workflow_id=workflow.info().workflow_id,
                job_workflow_ids=self._batch_job_workflow_ids,
            ),
            start_to_close_timeout=retry_policies.RECORD_START_TO_CLOSE,
            schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
            retry_policy=retry_policies.DURABLE_RETRY,
        )

    @workflow.run
    async def run(self, inp: RenderTaskInput) -> RenderTaskResult:
        """Render `inp.params.n` variations. Fails (ApplicationError, non-retryable, type = the
        error code, details = progress) when none was delivered; on cancellation deletes the
        task's S3 objects and records nothing."""
        self._v2 = workflow.patched(V2)
        self._progress.variations = [VariationProgress(index=i) for i in range(inp.params.n)]
        try:
            return await self._render(inp)
        except asyncio.CancelledError:
            if self._v2:
                self._progress.stage = "canceled"
                if self._batch_model is not None:
                    await self._withdraw_batch()
                if self._asset_ids and workflow.patched(V4_CANCEL_DELETES_ROWS):
                    # Canceled while awaiting its review: the rows go with the discarded images.
                    await workflow.execute_activity_method(
                        RecordActivities.delete_assets,
                        AssetIdsInput(asset_ids=self._asset_ids),
                        start_to_close_timeout=retry_policies.RECORD_START_TO_CLOSE,
                        schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
                        retry_policy=retry_policies.DURABLE_RETRY,
                    )
                await workflow.execute_activity_method(
                    StorageActivities.discard_task_objects,
                    TaskObjectsInput(project_id=inp.project_id, task_id=inp.task_id),
                    start_to_close_timeout=retry_policies.STORAGE_START_TO_CLOSE,
                    schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
                    retry_policy=retry_policies.DURABLE_RETRY,
                )
                workflow.upsert_search_attributes([RENDER_STAGE.value_set("canceled")])
                await notify(inp, "canceled", [], TaskError(code="canceled", message="the task was canceled"))
            raise

    async def _render_batch(self, inp: RenderTaskInput, plan: PromptPlan) -> list[AssetRecord | None]:
        """Batch mode: hand the variations to the model's collector, wait (hours if need be)
        for every variation's outcome, then publish each delivered image."""
        self._set_stage("waiting_for_batch")
        n = inp.params.n
        for variation in self._progress.variations:
            variation.state = "generating"
        items = [
            BatchItem(
                task_workflow_id=workflow.info().workflow_id,
                task_id=inp.task_id,
                project_id=inp.project_id,
                variation_index=i,
                plan=plan,
                references=inp.references,
            )
            for i in range(n)
        ]
        self._batch_model = plan.model
        settings = await workflow.execute_activity_method(
            BatchActivities.enqueue_batch_items,
            EnqueueBatchInput(model=plan.model, items=items),
            activity_id="batch-enqueue",
            start_to_close_timeout=retry_policies.RECORD_START_TO_CLOSE,
            schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
            retry_policy=retry_policies.DURABLE_RETRY,
        )
        try:
            await workflow.wait_condition(
                lambda: len(self._batch_outcomes) == n, timeout=timedelta(seconds=settings.wait_max_s)
            )
        except TimeoutError:
            # No job answered in time (Google expires a job after 48 h; the wait is longer):
            # the missing variations fail as expired and the items leave their collector/job.
            expired = TaskError(
                code=failure_codes.api_code(failure_codes.BATCH_EXPIRED),
                message=f"no outcome from the Gemini batch job within {settings.wait_max_s:g} s",
            )
            for i in range(n):
                self._batch_outcomes.setdefault(
                    i, BatchItemOutcome(task_workflow_id=items[i].task_workflow_id, variation_index=i, error=expired)
                )
            await self._withdraw_batch()
        self._set_stage("generating")
        return list(
            await asyncio.gather(
                *(
                    publish_batch_variation(inp, plan, i, self._progress.variations[i], self._batch_outcomes[i])
                    for i in range(n)
                )
            )
        )

    async def _render(self, inp: RenderTaskInput) -> RenderTaskResult:
        if self._v2:
            await workflow.execute_activity_method(
                RecordActivities.ensure_task_row,
                inp,
                start_to_close_timeout=retry_policies.RECORD_START_TO_CLOSE,
                schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
                retry_policy=retry_policies.DURABLE_RETRY_UNLESS_GONE,
            )
        self._set_stage("building_prompt")
        plan = await workflow.execute_activity(
            build_prompt,
            BuildPromptInput(task_id=inp.task_id, prompt=inp.prompt, params=inp.params, brand_kit=inp.brand_kit),
            start_to_close_timeout=retry_policies.PROMPT_START_TO_CLOSE,
            retry_policy=retry_policies.PROMPT_RETRY,
        )
        if inp.params.mode == "batch":
            outcomes = await self._render_batch(inp, plan)
        else:
            self._set_stage("generating")
            outcomes = await asyncio.gather(
                *(render_variation(inp, plan, i, self._progress.variations[i], self._v2) for i in range(inp.params.n))
            )
        delivered = [o for o in outcomes if o is not None]
        if not delivered:
            errors = [v.error for v in self._progress.variations if v.error is not None]
            first = errors[0] if errors else TaskError(code="internal", message="no variation was delivered")
            self._progress.stage = "failed"
            workflow.upsert_search_attributes([RENDER_STAGE.value_set("failed"), ERROR_CODE.value_set(first.code)])
            await notify(inp, "failed", [], first)
            raise ApplicationError(first.message, self._progress, type=first.code, non_retryable=True)

        self._set_stage("recording")
        recorded = await workflow.execute_activity_method(
            RecordActivities.record_assets,
            RecordAssetsInput(task_id=inp.task_id, project_id=inp.project_id, assets=delivered),
            start_to_close_timeout=retry_policies.RECORD_START_TO_CLOSE,
            schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
            retry_policy=retry_policies.DURABLE_RETRY,
        )
        for asset, asset_id in zip(delivered, recorded.asset_ids, strict=True):
            self._progress.variations[asset.variation_index].asset_id = asset_id
        self._asset_ids = recorded.asset_ids
        if inp.review is not None:
            await self._await_review(inp.review)
        self._set_stage("completed")
        await notify(inp, "succeeded", recorded.asset_ids)
        return RenderTaskResult(progress=self._progress, asset_ids=recorded.asset_ids)
