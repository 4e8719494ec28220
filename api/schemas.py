"""Request and response schemas, named by role. Input models forbid unknown fields; ORM
models never leave the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from api.fields import StrictCount, StrictFlag
from kernel.catalog import ASPECT_RATIOS, DEFAULT_MODEL, IMAGE_SIZES, MODELS
from kernel.payloads import RenderMode, ReviewOutcome, Stage, TaskError, TaskPriority, VariationProgress
from kernel.prompts.asset_types import asset_types
from kernel.prompts.brand_kit import BrandKit
from kernel.user_text import MultiLine, SingleLine, sanitize_user_text

T = TypeVar("T")

TaskStatus = Literal["queued", "running", "succeeded", "failed", "canceled", "timed_out", "terminated"]

MAX_PROMPT_CHARS = 4000


class Page(BaseModel, Generic[T]):
    """A page of a list, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[T]
    next_cursor: str | None = None


class BrandKitInput(BrandKit):
    """A brand kit as sent by a client: its text refuses control and bidi characters (stored
    kits are read back as `BrandKit`, which does not re-check them)."""

    fonts: list[SingleLine] = Field(default_factory=list, max_length=5)
    tone: SingleLine | None = Field(None, max_length=100)
    style_keywords: list[SingleLine] = Field(default_factory=list, max_length=20)
    negative_keywords: list[SingleLine] = Field(default_factory=list, max_length=20)


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SingleLine = Field(min_length=1, max_length=200)
    description: MultiLine | None = Field(None, max_length=2000)
    brand_kit: BrandKitInput | None = None
    daily_image_quota: StrictCount | None = Field(None, ge=0, le=100_000, description="images per UTC day")
    daily_budget_micro_usd: StrictCount | None = Field(
        None, ge=0, le=10**12, description="cap on the worst-case cost of tasks created per UTC day, micro-dollars"
    )
    monthly_budget_micro_usd: StrictCount | None = Field(
        None, ge=0, le=10**13, description="cap on the worst-case cost of tasks created per UTC month, micro-dollars"
    )


class ProjectUpdate(BaseModel):
    """Fields to change; the brand kit applies to tasks created afterwards. `name` may be left
    out but not set to null; null `description`, `brand_kit` or `daily_image_quota` clears it
    (the quota then falls back to the server's default); a null budget removes the cap."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        SingleLine | None,
        Field(min_length=1, max_length=200),
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200}),
    ] = None
    description: MultiLine | None = Field(None, max_length=2000)
    brand_kit: BrandKitInput | None = None
    daily_image_quota: StrictCount | None = Field(None, ge=0, le=100_000, description="images per UTC day")
    daily_budget_micro_usd: StrictCount | None = Field(
        None, ge=0, le=10**12, description="cap on the worst-case cost of tasks created per UTC day, micro-dollars"
    )
    monthly_budget_micro_usd: StrictCount | None = Field(
        None, ge=0, le=10**13, description="cap on the worst-case cost of tasks created per UTC month, micro-dollars"
    )

    @field_validator("name", mode="before")
    @classmethod
    def _name_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("name cannot be null; leave it out to keep the current name")
        return value


class ProjectPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    brand_kit: BrandKit | None = None
    daily_image_quota: int | None = None
    daily_budget_micro_usd: int | None = None
    monthly_budget_micro_usd: int | None = None
    created_at: datetime


class TaskCreate(BaseModel):
    """A render request. `image_size` is 3 Pro only (Gemini rejects it on Flash)."""

    model_config = ConfigDict(extra="forbid")

    name: SingleLine = Field(min_length=1, max_length=200)
    prompt: MultiLine = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    description: MultiLine | None = Field(None, max_length=2000)
    n: StrictCount = Field(1, ge=1, le=8, description="number of variations, one model call each")
    model: str = Field(
        DEFAULT_MODEL, max_length=100, description="see GET /models", json_schema_extra={"enum": list(MODELS)}
    )
    aspect_ratio: str = Field(
        "1:1",
        max_length=10,
        description="one of the model's aspect ratios (GET /models); ignored in favour of the asset type's own",
        json_schema_extra={"enum": list(ASPECT_RATIOS)},
    )
    image_size: str | None = Field(
        None,
        max_length=10,
        description='one of the model\'s image sizes (GET /models), e.g. "1K" (default), "2K", "4K"; '
        "models without sizes take none",
        json_schema_extra={"enum": list(IMAGE_SIZES)},
    )
    asset_type: SingleLine = Field(
        "image", max_length=100, description="see GET /asset-types; sets the aspect ratio and output size"
    )
    webhook_url: SingleLine | None = Field(
        None, max_length=2000, description="https URL for task.succeeded/failed/canceled (Standard Webhooks)"
    )
    review: StrictFlag = Field(False, description="n > 1 only: wait for POST /tasks/{id}/review to pick the winner")
    review_timeout_s: StrictCount | None = Field(
        None, ge=5, le=30 * 24 * 3600, description="how long the review stays open (default: server setting)"
    )
    priority: TaskPriority = Field(
        "interactive",
        description="interactive tasks are dispatched before batch ones; within a priority, projects share "
        "the model quota fairly (Temporal task queue priority and fairness keys)",
    )
    mode: RenderMode = Field(
        "standard",
        description='"standard": one model call per variation, seconds; "batch": through Gemini\'s Batch API at '
        "half the price, done within 24 hours (the workflow waits durably)",
    )
    reference_asset_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=14,
        description="earlier assets of this project sent as input images (up to 14 on 3 Pro, 3 on Flash)",
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_has_text(cls, value: str) -> str:
        if not sanitize_user_text(value):
            raise ValueError("prompt has no visible text")
        return value

    @model_validator(mode="after")
    def _size_supported(self) -> TaskCreate:
        spec = MODELS.get(self.model)
        if spec is None:
            raise ValueError(f"unknown model {self.model!r}; one of {', '.join(MODELS)} (GET /api/v1/models)")
        if self.image_size is not None and not spec.supports_image_size:
            raise ValueError(f"image_size is not supported by {self.model}; leave it out")
        if self.image_size is not None and self.image_size not in spec.image_sizes:
            raise ValueError(
                f"image_size {self.image_size!r} is not one of {self.model}'s: {', '.join(spec.image_sizes)}"
            )
        if self.mode == "batch" and not spec.supports_batch:
            raise ValueError(f"{self.model} is not available in batch mode")
        if self.review and self.n < 2:
            raise ValueError("review needs n >= 2 variations to choose from")
        if self.review_timeout_s is not None and not self.review:
            raise ValueError("review_timeout_s needs review: true")
        limit = MODELS[self.model].max_reference_images
        if len(self.reference_asset_ids) > limit:
            raise ValueError(f"{self.model} takes at most {limit} reference images")
        if len(set(self.reference_asset_ids)) != len(self.reference_asset_ids):
            raise ValueError("reference_asset_ids has duplicates")
        kind = asset_types().get(self.asset_type)
        if kind is None:
            raise ValueError(f"unknown asset_type {self.asset_type!r}; see GET /api/v1/asset-types")
        if kind.aspect_ratio is not None:
            if "aspect_ratio" in self.model_fields_set and self.aspect_ratio != kind.aspect_ratio:
                raise ValueError(f"asset_type {kind.name} is rendered at {kind.aspect_ratio}; leave aspect_ratio out")
            self.aspect_ratio = kind.aspect_ratio
        if self.aspect_ratio not in spec.aspect_ratios:
            raise ValueError(
                f"aspect_ratio {self.aspect_ratio!r} is not one of {self.model}'s: {', '.join(spec.aspect_ratios)}"
            )
        return self

    def parameters(self) -> dict[str, Any]:
        """The model parameters stored on the task and sent to the workflow."""
        return {
            "model": self.model,
            "aspect_ratio": self.aspect_ratio,
            "image_size": self.image_size,
            "n": self.n,
            "asset_type": self.asset_type,
            "reference_asset_ids": [str(a) for a in self.reference_asset_ids],
            "priority": self.priority,
            "mode": self.mode,
            "review": self.review,
            "webhook_url": self.webhook_url,
            "review_timeout_s": self.review_timeout_s,
        }


class DerivedStatus(BaseModel):
    """What a task's workflow says about it (derived by api/task_status.py; never stored)."""

    status: TaskStatus
    stage: Stage | None = None
    variations: list[VariationProgress] = Field(default_factory=list)
    asset_ids: list[str] = Field(default_factory=list)
    review: ReviewOutcome | None = None
    error: TaskError | None = None


class Cost(BaseModel):
    """An amount Google bills: integer micro-dollars (1 USD = 1,000,000) and the same in USD as
    an exact decimal string. Prices: the model catalogue (GET /models)."""

    micro_usd: int
    usd: Decimal

    @classmethod
    def exact(cls, micro_usd: int) -> Cost:
        """The cost of `micro_usd` micro-dollars."""
        return cls(micro_usd=micro_usd, usd=Decimal(micro_usd).scaleb(-6))

    @classmethod
    def of(cls, micro_usd: int | None) -> Cost | None:
        """The cost of `micro_usd` micro-dollars; None stays None (unknown)."""
        return None if micro_usd is None else cls.exact(micro_usd)


class TaskPublic(DerivedStatus):
    """A task: its row, with the status derived from its Temporal workflow. `cost` is the sum
    of its delivered images' costs (null until one is recorded)."""

    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str | None
    prompt: str
    parameters: dict[str, Any]
    workflow_id: str
    temporal_ui_url: str
    retry_of_task_id: uuid.UUID | None = None
    created_at: datetime
    cost: Cost | None = None
    estimated_cost: Cost | None = Field(
        None, description="worst case: n images at the model's price for this size and mode (GET /models)"
    )


class AssetPublic(BaseModel):
    """A rendered or uploaded image; `url` is a presigned S3 GET URL a client can fetch directly,
    `thumbnail_url` one of its WebP thumbnail (at most 512 px on the long side), null until one
    exists. An upload (`asset_type` "upload") has null `task_id` and `variation_index`."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: uuid.UUID
    task_id: uuid.UUID | None
    variation_index: int | None
    type: str
    file_key: str
    content_type: str
    width: int
    height: int
    byte_size: int
    sha256: str
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    state: str
    asset_type: str
    visibility: str
    created_at: datetime
    url: str
    url_expires_in_s: int
    thumbnail_url: str | None = None
    cost: Cost | None = Field(None, description="what Google billed for this image; null for uploads")


class UploadCreate(BaseModel):
    """An image the caller is about to upload: its name, type and size in bytes."""

    model_config = ConfigDict(extra="forbid")

    filename: SingleLine = Field(min_length=1, max_length=255)
    content_type: Literal["image/png", "image/jpeg", "image/webp"]
    byte_size: StrictCount = Field(ge=1, description="bytes; at most UPLOAD_MAX_BYTES")


class UploadPublic(BaseModel):
    """Where to PUT the bytes: `put_url` with exactly `put_headers`, before `expires_at`; then
    `POST /uploads/{id}/complete`."""

    id: uuid.UUID
    put_url: str
    put_headers: dict[str, str]
    expires_at: datetime
    max_bytes: int


class AssetUpdate(BaseModel):
    """Fields to change on an asset."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["draft", "approved", "archived"] | None = None
    visibility: Literal["private", "public"] | None = None

    @model_validator(mode="after")
    def _something(self) -> AssetUpdate:
        if not self.model_fields_set or any(getattr(self, f) is None for f in self.model_fields_set):
            raise ValueError("send state and/or visibility")
        return self


class LineageEntry(BaseModel):
    """An asset related to another, `depth` steps away (1 = direct parent or child)."""

    id: uuid.UUID
    depth: int


class LineagePublic(BaseModel):
    """Where an asset came from (ancestors, via reference images) and what was made from it."""

    asset_id: uuid.UUID
    ancestors: list[LineageEntry]
    descendants: list[LineageEntry]


class ReviewCreate(BaseModel):
    """The reviewer's decision: the winning asset (approved; the others are archived)."""

    model_config = ConfigDict(extra="forbid")

    winner: uuid.UUID


MAX_BATCH_TASKS = 100


class TaskBatchCreate(BaseModel):
    """Up to MAX_BATCH_TASKS task bodies (each a TaskCreate, plus its own optional
    `idempotency_key`). Items are validated one by one: a bad item is reported in its place and
    the others are still created."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH_TASKS,
        description="task bodies as for POST /projects/{project_id}/tasks (TaskCreate), each with an optional "
        "`idempotency_key`; an item that is not a valid task body is refused in its place (status 422)",
    )


class TaskBatchItemResult(BaseModel):
    """One item's outcome, in request order: `status` is what a single creation would have
    answered (202 created, 200 found by its idempotency key, 4xx/503 refused), with the task or
    the error."""

    index: int
    status: int
    task: TaskPublic | None = None
    error: TaskError | None = None


class TaskBatchResult(BaseModel):
    """The outcome of every item of a batch."""

    items: list[TaskBatchItemResult]
