"""Uploads never completed, oldest first: a partial index for the abandoned-uploads sweep.

Housekeeping's `sweep_uploads` (activities/housekeeping.py) walks the uploads with no asset in
(created_at, id) order, a batch at a time; this index holds only those rows, so each batch is
an index range scan however many completed uploads the table keeps.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_uploads_pending_created_at",
        "uploads",
        ["created_at", "id"],
        postgresql_where=sa.text("asset_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_uploads_pending_created_at", "uploads")
