"""How an export ended without a file (failed with its error, or canceled) and when, on its row:
Temporal's retention drops the workflow long before the row, which must still say so.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("exports", sa.Column("outcome", sa.String(20), nullable=True))
    op.add_column("exports", sa.Column("error_code", sa.String(100), nullable=True))
    op.add_column("exports", sa.Column("error_message", sa.Text(), nullable=True))
    op.add_column("exports", sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint("ck_exports_outcome", "exports", "outcome IN ('failed', 'canceled')")


def downgrade() -> None:
    op.drop_constraint("ck_exports_outcome", "exports", type_="check")
    op.drop_column("exports", "ended_at")
    op.drop_column("exports", "error_message")
    op.drop_column("exports", "error_code")
    op.drop_column("exports", "outcome")
