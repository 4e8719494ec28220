"""Exports (issue 13): one row per export of a project's assets (zip, contact sheet, mp4).

The row holds the request (format, the assets in order, options, the Idempotency-Key and the
request's hash) and, once the `ExportWorkflow` finished, the file in S3 (`file_key`,
`byte_size`, `sha256`, `completed_at`); housekeeping sets `expired_at` when it removes the file.
Its status is the workflow's, as for tasks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("asset_ids", postgresql.JSONB(), nullable=False),
        sa.Column("options", postgresql.JSONB(), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("file_key", sa.String(500), nullable=True),
        sa.Column("byte_size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("format IN ('zip', 'contact_sheet', 'mp4')", name="ck_exports_format"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_exports_project_id_projects", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_exports"),
        sa.UniqueConstraint("workflow_id", name="uq_exports_workflow_id"),
    )
    op.create_index("ix_exports_project_id_created_at", "exports", ["project_id", "created_at"])
    op.create_index("ix_exports_completed_at", "exports", ["completed_at"])


def downgrade() -> None:
    op.drop_index("ix_exports_completed_at", table_name="exports")
    op.drop_index("ix_exports_project_id_created_at", table_name="exports")
    op.drop_table("exports")
