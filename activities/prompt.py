"""`build_prompt`: user text -> the final prompt and model parameters sent to Gemini."""

from __future__ import annotations

from temporalio import activity

from studio.payloads import BuildPromptInput, PromptPlan
from studio.user_text import sanitize_user_text


@activity.defn(name="build_prompt")
async def build_prompt(inp: BuildPromptInput) -> PromptPlan:
    """Build the model prompt for a task. Deterministic and cheap; no I/O.

    Templates and brand kits plug in here; today the prompt is the sanitised user text.
    """
    return PromptPlan(
        prompt=sanitize_user_text(inp.prompt),
        model=inp.params.model,
        aspect_ratio=inp.params.aspect_ratio,
        image_size=inp.params.image_size,
    )
