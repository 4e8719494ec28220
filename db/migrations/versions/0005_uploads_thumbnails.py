"""Uploads and thumbnails (issue 11): user uploads as assets, a WebP thumbnail per asset.

`rendered_assets.task_id` and `variation_index` become nullable: an asset of asset_type 'upload'
has neither, every other asset has both (check constraint). `thumbnail_key` names the asset's
thumbnail object, NULL until one is written. `uploads` records a presigned PUT until it is
completed into an asset (`asset_id`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TASK_OR_UPLOAD = (
    "(asset_type = 'upload' AND task_id IS NULL AND variation_index IS NULL)"
    " OR (asset_type <> 'upload' AND task_id IS NOT NULL AND variation_index IS NOT NULL)"
)


def upgrade() -> None:
    op.add_column("rendered_assets", sa.Column("thumbnail_key", sa.String(500), nullable=True))
    op.alter_column("rendered_assets", "task_id", existing_type=sa.Uuid(), nullable=True)
    op.alter_column("rendered_assets", "variation_index", existing_type=sa.Integer(), nullable=True)
    op.create_check_constraint("ck_rendered_assets_task_or_upload", "rendered_assets", _TASK_OR_UPLOAD)
    op.create_table(
        "uploads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("file_key", sa.String(500), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("byte_size", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_uploads_project_id_projects", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name="fk_uploads_owner_id_users", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["rendered_assets.id"], name="fk_uploads_asset_id_rendered_assets", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_uploads"),
        sa.UniqueConstraint("file_key", name="uq_uploads_file_key"),
    )
    op.create_index("ix_uploads_project_id", "uploads", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_uploads_project_id", "uploads")
    op.drop_table("uploads")
    op.execute("DELETE FROM rendered_assets WHERE asset_type = 'upload'")
    op.drop_constraint("ck_rendered_assets_task_or_upload", "rendered_assets", type_="check")
    op.alter_column("rendered_assets", "variation_index", existing_type=sa.Integer(), nullable=False)
    op.alter_column("rendered_assets", "task_id", existing_type=sa.Uuid(), nullable=False)
    op.drop_column("rendered_assets", "thumbnail_key")
