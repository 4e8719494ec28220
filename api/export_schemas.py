"""Request and response schemas of exports (issue 13). Input models forbid unknown fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.fields import Timestamp
from api.schemas import TaskStatus
from kernel.exports import ExportFormat, ExportOptions
from kernel.payloads import TaskError
from kernel.user_text import SingleLine

ExportStatus = TaskStatus | Literal["expired"]
MAX_EXPORT_ASSET_IDS = 1000


class ExportFilter(BaseModel):
    """Which of the project's assets to export (all when empty), as the asset list filters them."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["draft", "approved", "archived"] | None = None
    asset_type: SingleLine | None = Field(None, max_length=100)
    task_id: uuid.UUID | None = None
    visibility: Literal["private", "public"] | None = None
    created_after: Timestamp | None = None
    created_before: Timestamp | None = None


class ExportCreate(BaseModel):
    """An export: `asset_ids` (in this order) or a `filter` (newest first), not both; neither
    exports every asset of the project. `options` per format (see ExportOptions)."""

    model_config = ConfigDict(extra="forbid")

    format: ExportFormat
    asset_ids: list[uuid.UUID] | None = Field(None, min_length=1, max_length=MAX_EXPORT_ASSET_IDS)
    filter: ExportFilter | None = None
    options: ExportOptions = Field(default_factory=ExportOptions)

    @model_validator(mode="after")
    def _one_selection(self) -> ExportCreate:
        if self.asset_ids is not None and self.filter is not None:
            raise ValueError("send asset_ids or filter, not both")
        if self.asset_ids is not None and len(set(self.asset_ids)) != len(self.asset_ids):
            raise ValueError("asset_ids has duplicates")
        if self.options.crossfade_s >= self.options.seconds_per_image:
            raise ValueError("options.crossfade_s must be shorter than options.seconds_per_image")
        return self


class ExportProgressPublic(BaseModel):
    """Images done of `total` (the build's last heartbeat)."""

    done: int
    total: int


class ExportPublic(BaseModel):
    """An export: its request, its status derived from its `ExportWorkflow`, and once it
    succeeded the file: `url` (presigned GET, valid `url_expires_in_s` seconds), `size`
    (bytes) and `sha256`. `expired`: housekeeping removed the file after the retention period."""

    id: uuid.UUID
    project_id: uuid.UUID
    format: ExportFormat
    status: ExportStatus
    progress: ExportProgressPublic
    options: ExportOptions
    asset_count: int
    workflow_id: str
    temporal_ui_url: str
    created_at: datetime
    completed_at: datetime | None = None
    expired_at: datetime | None = None
    content_type: str | None = None
    size: int | None = Field(None, description="bytes")
    sha256: str | None = None
    url: str | None = None
    url_expires_in_s: int | None = None
    error: TaskError | None = None
