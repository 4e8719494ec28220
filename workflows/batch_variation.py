"""One variation of a batch task once its Gemini batch job answered: publish the staged image
exactly as the standard path does (`workflows/variation.py`: same activity, id, key, checks and
asset record) or record why there is none. Runs inside `RenderTaskWorkflow`."""

from __future__ import annotations

from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from kernel.batch_payloads import BatchItemOutcome
    from kernel.contract import publish_activity_id
    from kernel.payloads import (
        AssetRecord,
        PromptPlan,
        RenderTaskInput,
        TaskError,
        VariationProgress,
    )
    from workflows.variation import publish_variation


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
    return await publish_variation(
        inp,
        plan,
        index,
        variation,
        generated,
        publish_activity_id(index),
        ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        extra_metadata={"batch": {"job": variation.batch_job}},
    )
