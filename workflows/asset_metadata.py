"""The `metadata` JSON stored on each rendered asset: how it was made, and its lineage."""

from __future__ import annotations

from typing import Any

from studio.payloads import GeneratedImage, PromptPlan, RenderTaskInput


def asset_metadata(
    inp: RenderTaskInput, plan: PromptPlan, generated: GeneratedImage, index: int, workflow_id: str, run_id: str
) -> dict[str, Any]:
    """Final prompt, model and parameters, the model's modelVersion/responseId/usage, lineage."""
    return {
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
            "workflow_id": workflow_id,
            "run_id": run_id,
            "parent_asset_ids": [],
        },
    }
