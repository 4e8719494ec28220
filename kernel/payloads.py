"""Pydantic models that cross Temporal: workflow and activity inputs, results and query answers.

One input and one result object per workflow and activity, so fields can be added later without
breaking running histories. Image bytes never appear here: activities pass `ImageRef`s (S3 keys
plus checksums), because Temporal refuses payloads over 2 MB and a 1K PNG is already 1-3 MB.
Every client and worker uses `temporalio.contrib.pydantic.pydantic_data_converter`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Stage = Literal[
    "queued",
    "building_prompt",
    "waiting_for_batch",  # batch mode: the variations wait in (or for) a Gemini batch job
    "generating",
    "recording",
    "awaiting_review",
    "completed",
    "failed",
    "canceled",
]
TaskPriority = Literal["interactive", "batch"]
# standard: one model call per variation; batch: Gemini's Batch API (half price, up to 24 h).
RenderMode = Literal["standard", "batch"]
ReviewExpiry = Literal["approve_first", "archive_all", "keep_drafts"]
VariationState = Literal["pending", "generating", "publishing", "succeeded", "failed"]


class RenderParams(BaseModel):
    """Model parameters of one task, already validated by the API against `kernel.catalog`."""

    model: str
    aspect_ratio: str = "1:1"
    image_size: str | None = None  # "1K" | "2K" | "4K", 3 Pro only
    n: int = Field(1, ge=1, le=8)
    asset_type: str = "image"  # a name from kernel/prompts/asset_types.yaml
    reference_asset_ids: list[str] = Field(default_factory=list)
    priority: TaskPriority = "interactive"
    mode: RenderMode = "standard"


class ReferenceImage(BaseModel):
    """An earlier asset of the same project sent to the model as an input image (edit/vary)."""

    asset_id: str
    key: str
    mime: str
    # Its size in bytes (None in plans recorded before it was kept): batch mode sends references
    # inline, within Google's limit on a job's request.
    byte_size: int | None = None


class ReviewSettings(BaseModel):
    """A task that waits for a human to pick the winner among its variations."""

    timeout_s: float = Field(gt=0)  # how long the review stays open, in seconds
    on_expiry: ReviewExpiry = "approve_first"


class ReviewDecision(BaseModel):
    """Argument of the `review` workflow Update."""

    winner_asset_id: str


class ReviewOutcome(BaseModel):
    """What the review decided: the winner (approved) and the rest (archived)."""

    decided_by: Literal["user", "expiry"]
    winner_asset_id: str | None
    approved: list[str]
    archived: list[str]


class AssetIdsInput(BaseModel):
    """Input of `delete_assets`: rows to remove."""

    asset_ids: list[str] = Field(default_factory=list)


class AssetStatesInput(BaseModel):
    """Input of `set_asset_states`."""

    approved: list[str] = Field(default_factory=list)
    archived: list[str] = Field(default_factory=list)


class RenderTaskInput(BaseModel):
    """Input of `RenderTaskWorkflow`: the whole task, so the workflow never reads the API's DB
    and can write the task row itself if the API died right after starting it."""

    task_id: str
    project_id: str
    prompt: str
    params: RenderParams
    # Overall deadline of the model calls, in seconds (schedule-to-close of generate_image).
    deadline_s: float = 900.0
    name: str = ""
    description: str | None = None
    idempotency_key: str | None = None
    # sha256 of the creation request, to tell a retry from a different request with the same key.
    request_hash: str | None = None
    # The project's brand kit when the task was created (a snapshot: later edits do not apply).
    brand_kit: dict[str, Any] | None = None
    references: list[ReferenceImage] = Field(default_factory=list)
    review: ReviewSettings | None = None
    owner_id: str | None = None
    # Where task.succeeded / task.failed / task.canceled are delivered (checked for SSRF).
    webhook_url: str | None = None
    # A retry: the task it retries, and per new variation the earlier task's staging key to
    # reuse if that image is still staged there (so it is not paid for twice).
    retry_of_task_id: str | None = None
    reuse_staging_keys: list[str | None] = Field(default_factory=list)


class TaskObjectsInput(BaseModel):
    """Input of `discard_task_objects`: the task whose S3 objects to delete."""

    project_id: str
    task_id: str


class BuildPromptInput(BaseModel):
    """Input of the `build_prompt` activity."""

    task_id: str
    prompt: str
    params: RenderParams
    brand_kit: dict[str, Any] | None = None


class PromptPlan(BaseModel):
    """The final prompt and the model parameters sent to Gemini, and the delivered size the
    asset type asks for (pixels; None keeps the model's size)."""

    prompt: str
    model: str
    aspect_ratio: str
    image_size: str | None = None
    asset_type: str = "image"
    output_width: int | None = None
    output_height: int | None = None
    # The size the model delivers (pixels), from the model catalogue when the prompt was built,
    # so the workflow never reads the catalogue file itself (None in plans recorded before).
    model_width: int | None = None
    model_height: int | None = None


class ImageRef(BaseModel):
    """A reference to image bytes stored in S3. Sizes in bytes, dimensions in pixels."""

    key: str
    sha256: str
    size: int
    mime: str
    width: int
    height: int
    # The model's size when the image was resized to its asset type's size.
    source_width: int | None = None
    source_height: int | None = None
    # The WebP thumbnail beside the image (kernel.object_keys.thumbnail_key), when one was written.
    thumbnail_key: str | None = None


class GenerateImageInput(BaseModel):
    """Input of `generate_image`: one Gemini call for one variation of one task."""

    task_id: str
    project_id: str
    variation_index: int
    plan: PromptPlan
    references: list[ReferenceImage] = Field(default_factory=list)
    reuse_staging_key: str | None = None


class GeneratedImage(BaseModel):
    """Result of `generate_image`: the staged image and what the model said about it."""

    staged: ImageRef
    model_version: str | None = None
    response_id: str | None = None
    usage: dict[str, Any] = Field(default_factory=dict)
    # False when the staged object already existed and the model was not called again.
    model_called: bool = True


class PublishImageInput(BaseModel):
    """Input of `publish_image`: move a verified staged image to its final key."""

    staged: ImageRef
    final_key: str
    expected_width: int
    expected_height: int
    output_width: int | None = None
    output_height: int | None = None


class AssetRecord(BaseModel):
    """One `rendered_assets` row to upsert (unique per task and variation)."""

    variation_index: int
    image: ImageRef
    metadata: dict[str, Any] = Field(default_factory=dict)
    asset_type: str = "image"
    parent_asset_ids: list[str] = Field(default_factory=list)


class RecordAssetsInput(BaseModel):
    """Input of `record_assets`."""

    task_id: str
    project_id: str
    assets: list[AssetRecord]


class RecordAssetsResult(BaseModel):
    """Result of `record_assets`: asset ids, in the order of the input's assets."""

    asset_ids: list[str]


class TaskError(BaseModel):
    """A failure explained: a stable machine code and the human message (the model's reason)."""

    code: str
    message: str


class RetryState(BaseModel):
    """An activity being retried: its attempt number and the last failure's code and message,
    and, while it waits for its next attempt, when that is scheduled (`next_attempt_at`, UTC)
    and how long that was from the moment the task was read (`wait_s`, whole seconds, >= 0).
    Both are None while an attempt is running (Temporal's `next_attempt_schedule_time` is
    then unset)."""

    attempt: int
    code: str
    message: str
    next_attempt_at: datetime | None = None
    wait_s: int | None = None


class VariationProgress(BaseModel):
    """Live state of one variation. `retry` is filled by the API from the pending activity."""

    index: int
    state: VariationState = "pending"
    asset_id: str | None = None
    error: TaskError | None = None
    retry: RetryState | None = None
    batch_job: str | None = None  # batch mode: the Gemini batch job (`batches/<id>`) once submitted


class TaskProgress(BaseModel):
    """Answer of the `progress` query, and the detail carried by the workflow's result or failure."""

    stage: Stage
    variations: list[VariationProgress]
    review: ReviewOutcome | None = None


class RenderTaskResult(BaseModel):
    """Result of a completed `RenderTaskWorkflow`."""

    progress: TaskProgress
    asset_ids: list[str]


class WebhookDelivery(BaseModel):
    """One webhook message. The signing secret is looked up by `owner_id` inside the activity,
    so it never enters workflow history."""

    owner_id: str
    url: str
    message_id: str  # `webhook-id`: the same on every retry of this message
    event_type: str  # task.succeeded | task.failed | task.canceled
    payload: dict[str, Any]
