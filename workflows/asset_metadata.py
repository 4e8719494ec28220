"""The `metadata` JSON stored on each rendered asset: how it was made, and its lineage."""

from __future__ import annotations

from typing import Any

from kernel.payloads import GeneratedImage, ImageRef, PromptPlan, RenderTaskInput


def asset_metadata(
    inp: RenderTaskInput,
    plan: PromptPlan,
    generated: GeneratedImage,
    published: ImageRef,
    index: int,
    workflow_id: str,
    run_id: str,
) -> dict[str, Any]:
    """Final prompt, model and parameters, the model's modelVersion/responseId/usage, the
    resize applied for the asset type (if any), and lineage."""
    resize = None
    if published.source_width is not None:
        resize = {
            "from": [published.source_width, published.source_height],
            "to": [published.width, published.height],
            "method": "cover-centre-crop-lanczos",
        }
    return {
        "asset_type": plan.asset_type,
        "resize": resize,
        "brand_kit": inp.brand_kit,
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
            "parent_asset_ids": [r.asset_id for r in inp.references],
        },
    }
