"""`build_prompt`: user text -> the final prompt and model parameters sent to Gemini."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from kernel import failure_codes
from kernel.catalog import expected_dimensions
from kernel.payloads import BuildPromptInput, PromptPlan
from kernel.prompts.asset_types import asset_types
from kernel.prompts.brand_kit import BrandKit
from kernel.prompts.engine import render_prompt


@activity.defn(name="build_prompt")
async def build_prompt(inp: BuildPromptInput) -> PromptPlan:
    """Build the model prompt for a task from its asset type's template, the project's brand
    kit (as snapshotted at creation) and the sanitised user text. Deterministic, no I/O beyond
    the packaged templates and the model catalogue. Raises KeyError for an unknown asset type
    (the API validates it), a non-retryable InvalidRequest when the catalogue no longer has the
    task's model or aspect ratio."""
    asset_type = asset_types()[inp.params.asset_type]
    kit = BrandKit.model_validate(inp.brand_kit) if inp.brand_kit else None
    size = asset_type.output_size
    aspect_ratio = asset_type.aspect_ratio or inp.params.aspect_ratio
    try:
        model_width, model_height = expected_dimensions(inp.params.model, aspect_ratio, inp.params.image_size)
    except KeyError as exc:  # the catalogue file changed since the task was accepted
        raise ApplicationError(
            f"{inp.params.model} at {aspect_ratio} is no longer in the model catalogue",
            type=failure_codes.INVALID_REQUEST,
            non_retryable=True,
        ) from exc
    return PromptPlan(
        prompt=render_prompt(asset_type, inp.prompt, kit),
        model=inp.params.model,
        aspect_ratio=aspect_ratio,
        image_size=inp.params.image_size,
        asset_type=asset_type.name,
        output_width=size[0] if size else None,
        output_height=size[1] if size else None,
        model_width=model_width,
        model_height=model_height,
    )
