"""Tasks remember the Idempotency-Key and the hash of the request that created them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("idempotency_key", sa.String(200), nullable=True))
    op.add_column("tasks", sa.Column("request_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("tasks", "request_hash")
    op.drop_column("tasks", "idempotency_key")
