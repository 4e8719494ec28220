"""O(1) intake: a per-project per-day image counter and per-user creation token buckets.

Replaces the SUM over today's tasks (under a project row lock held across the Temporal start)
and the fixed one-minute creation windows. Today's counters are backfilled from the tasks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_daily_images",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_project_daily_images_project_id_projects", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id", "day", name="pk_project_daily_images"),
    )
    op.execute(
        """
        INSERT INTO project_daily_images (project_id, day, images)
        SELECT project_id, (created_at AT TIME ZONE 'UTC')::date, SUM((parameters->>'n')::int)
        FROM tasks
        WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
        GROUP BY project_id, (created_at AT TIME ZONE 'UTC')::date
        """
    )
    op.create_table(
        "creation_buckets",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_creation_buckets_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_creation_buckets"),
    )
    op.drop_table("rate_limit_windows")


def downgrade() -> None:
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
    op.drop_table("creation_buckets")
    op.drop_table("project_daily_images")
