"""SQLAlchemy 2 ORM models. UUID primary keys, timezone-aware timestamps.

Tasks have no status column: a task's status is derived from its Temporal workflow.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ASSET_STATES = ("draft", "approved", "archived")


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class User(Base):
    """An API user. Only the SHA-256 of the API key is stored."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    api_key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # Signs this user's webhooks (Standard Webhooks `whsec_...`); created on first use.
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now_column()


class Project(Base):
    """A user's project; tasks and assets belong to it."""

    __tablename__ = "projects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    brand_kit: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Images per UTC day; None means the server default (DAILY_IMAGE_QUOTA).
    daily_image_quota: Mapped[int | None] = mapped_column(Integer)
    # Caps on the worst-case cost of tasks created per UTC day / month, integer micro-dollars.
    daily_budget_micro_usd: Mapped[int | None] = mapped_column(BigInteger)
    monthly_budget_micro_usd: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now_column()


class Task(Base):
    """A render request. `parameters` holds model, aspect_ratio, image_size and n."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text, nullable=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    workflow_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    # The task id is derived from (owner, Idempotency-Key), so the key itself needs no index.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    retry_of_task_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _now_column()


class RenderedAsset(Base):
    """One image: rendered (unique per (task, variation), so activity retries never duplicate it) or uploaded."""

    __tablename__ = "rendered_assets"
    __table_args__ = (
        UniqueConstraint("task_id", "variation_index", name="uq_rendered_assets_task_variation"),
        CheckConstraint("state IN ('draft', 'approved', 'archived')", name="state"),
        CheckConstraint("visibility IN ('private', 'public')", name="visibility"),
        # An upload has no task; every rendered asset has its task and variation.
        CheckConstraint(
            "(asset_type = 'upload' AND task_id IS NULL AND variation_index IS NULL)"
            " OR (asset_type <> 'upload' AND task_id IS NOT NULL AND variation_index IS NOT NULL)",
            name="task_or_upload",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # None only for an upload (asset_type 'upload').
    task_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    variation_index: Mapped[int | None] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(20), nullable=False, default="image")
    file_key: Mapped[str] = mapped_column(String(500), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    byte_size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, default=dict)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="draft", server_default="draft", index=True)
    asset_type: Mapped[str] = mapped_column(String(40), nullable=False, server_default="image", index=True)
    visibility: Mapped[str] = mapped_column(String(10), nullable=False, server_default="private")
    # The WebP thumbnail's object key (<= 512 px long side); None until one is written.
    thumbnail_key: Mapped[str | None] = mapped_column(String(500))
    # What Google bills for this image, integer micro-dollars (kernel.catalog prices); None for uploads.
    cost_micro_usd: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now_column()


class AssetParent(Base):
    """Lineage edge: `asset_id` was made from `parent_asset_id` (a reference image)."""

    __tablename__ = "asset_parents"

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rendered_assets.id", ondelete="CASCADE"), primary_key=True)
    parent_asset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("rendered_assets.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Upload(Base):
    """A presigned PUT of a user's image into a project; `asset_id` is set once completed."""

    __tablename__ = "uploads"
    # The abandoned-uploads sweep walks the uncompleted ones oldest first (migration 0009).
    __table_args__ = (
        Index("ix_uploads_pending_created_at", "created_at", "id", postgresql_where=text("asset_id IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    file_key: Mapped[str] = mapped_column(String(500), nullable=False, unique=True)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    # The size the client declared, in bytes; the stored object must not exceed the cap.
    byte_size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    asset_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rendered_assets.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _now_column()


class CreationBucket(Base):
    """A user's token bucket of task creations: `tokens` at `updated_at`, refilled over time."""

    __tablename__ = "creation_buckets"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ProjectDailyImages(Base):
    """Images requested by a project's tasks on one UTC day: the daily quota's O(1) counter."""

    __tablename__ = "project_daily_images"

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    images: Mapped[int] = mapped_column(Integer, nullable=False)


class WebSession(Base):
    """A signed-in browser (web studio): only the SHA-256 of its cookie's token is stored, with
    the CSRF secret its pages send back on every state-changing request."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_secret: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    created_at: Mapped[datetime] = _now_column()


class WebSignInLink(Base):
    """A one-time, short-lived sign-in link (`studio dev`): the SHA-256 of its token."""

    __tablename__ = "web_sign_in_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = _now_column()


class ProjectSpend(Base):
    """Worst-case cost reserved by a project's task creations in one period (a UTC day or
    month starting `period_start`), integer micro-dollars: the money budgets' O(1) counter."""

    __tablename__ = "project_spend"
    __table_args__ = (CheckConstraint("period IN ('day', 'month')", name="period"),)

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(5), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    reserved_micro_usd: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Export(Base):
    """A download of a project's assets (issue 13): zip, contact sheet or video. Like a task,
    its status is its `ExportWorkflow`'s; the row holds the request and, once finished, the
    file (`file_key`, `byte_size`, `sha256`, `completed_at`) or how it ended without one
    (`outcome` failed | canceled, `error_code`, `error_message`, `ended_at`), so both outlive
    Temporal's retention; `expired_at` is set when housekeeping removed the file after
    EXPORT_RETENTION_DAYS."""

    __tablename__ = "exports"
    __table_args__ = (
        Index("ix_exports_project_id_created_at", "project_id", "created_at"),
        CheckConstraint("format IN ('zip', 'contact_sheet', 'mp4')", name="format"),
        CheckConstraint("outcome IN ('failed', 'canceled')", name="outcome"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    format: Mapped[str] = mapped_column(String(20), nullable=False)
    asset_ids: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    workflow_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    file_key: Mapped[str | None] = mapped_column(String(500))
    byte_size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now_column()
