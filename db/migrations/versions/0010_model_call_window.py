"""The fleet's model calls of the last minute (`db/model_calls.py`): a sliding window that keeps
every worker together under the per-minute model quota.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_call_window",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("called_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_model_call_window_model_called_at", "model_call_window", ["model", "called_at"])


def downgrade() -> None:
    op.drop_index("ix_model_call_window_model_called_at", table_name="model_call_window")
    op.drop_table("model_call_window")
