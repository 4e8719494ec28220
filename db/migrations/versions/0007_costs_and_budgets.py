"""Cost of every image and budgets in money (issue 12).

`rendered_assets.cost_micro_usd`: what Google bills for the delivered image, in integer
micro-dollars (NULL for uploads, which cost nothing, and for assets recorded before prices were
kept). `projects.daily_budget_micro_usd` / `monthly_budget_micro_usd`: optional caps on the
worst-case cost of the tasks created per UTC day / month. `project_spend` counts the worst-case
cost reserved per project and period, one row per (project, period, start): a creation costs
one upsert, however busy the period.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rendered_assets", sa.Column("cost_micro_usd", sa.BigInteger(), nullable=True))
    op.add_column("projects", sa.Column("daily_budget_micro_usd", sa.BigInteger(), nullable=True))
    op.add_column("projects", sa.Column("monthly_budget_micro_usd", sa.BigInteger(), nullable=True))
    op.create_table(
        "project_spend",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(5), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("reserved_micro_usd", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("period IN ('day', 'month')", name="ck_project_spend_period"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_project_spend_project_id_projects", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id", "period", "period_start", name="pk_project_spend"),
    )


def downgrade() -> None:
    op.drop_table("project_spend")
    op.drop_column("projects", "monthly_budget_micro_usd")
    op.drop_column("projects", "daily_budget_micro_usd")
    op.drop_column("rendered_assets", "cost_micro_usd")
