"""Brand kits, asset types and visibility, lineage, retries, webhooks, review, limits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("projects", sa.Column("brand_kit", postgresql.JSONB(), nullable=True))
    op.add_column("projects", sa.Column("daily_image_quota", sa.Integer(), nullable=True))
    op.add_column("users", sa.Column("webhook_secret", sa.String(100), nullable=True))
    op.add_column("tasks", sa.Column("retry_of_task_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "fk_tasks_retry_of_task_id_tasks", "tasks", "tasks", ["retry_of_task_id"], ["id"], ondelete="SET NULL"
    )
    op.add_column("rendered_assets", sa.Column("asset_type", sa.String(40), server_default="image", nullable=False))
    op.add_column("rendered_assets", sa.Column("visibility", sa.String(10), server_default="private", nullable=False))
    op.create_check_constraint(
        "ck_rendered_assets_visibility", "rendered_assets", "visibility IN ('private', 'public')"
    )
    op.create_index("ix_rendered_assets_asset_type", "rendered_assets", ["asset_type"])
    op.create_table(
        "asset_parents",
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("parent_asset_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["rendered_assets.id"], name="fk_asset_parents_asset_id_rendered_assets", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_asset_id"],
            ["rendered_assets.id"],
            name="fk_asset_parents_parent_asset_id_rendered_assets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset_id", "parent_asset_id", name="pk_asset_parents"),
    )
    op.create_index("ix_asset_parents_parent_asset_id", "asset_parents", ["parent_asset_id"])
    op.create_table(
        "rate_limit_windows",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_rate_limit_windows_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "window_start", name="pk_rate_limit_windows"),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_windows")
    op.drop_table("asset_parents")
    op.drop_index("ix_rendered_assets_asset_type", "rendered_assets")
    op.drop_constraint("ck_rendered_assets_visibility", "rendered_assets")
    op.drop_column("rendered_assets", "visibility")
    op.drop_column("rendered_assets", "asset_type")
    op.drop_constraint("fk_tasks_retry_of_task_id_tasks", "tasks")
    op.drop_column("tasks", "retry_of_task_id")
    op.drop_column("users", "webhook_secret")
    op.drop_column("projects", "daily_image_quota")
    op.drop_column("projects", "brand_kit")
