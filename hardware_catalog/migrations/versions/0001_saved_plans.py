"""saved_plans: one row per saved planning result.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "saved_plans",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_by", sa.String(100), nullable=False),
        sa.Column("workload_name", sa.String(100), nullable=False),
        sa.Column("catalog_version", sa.String(100), nullable=False),
        sa.Column("workload", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("prices", sa.JSON, nullable=False),
    )
    op.create_index("ix_saved_plans_created_at", "saved_plans", ["created_at"])
    op.create_index("ix_saved_plans_workload_name", "saved_plans", ["workload_name"])


def downgrade() -> None:
    op.drop_index("ix_saved_plans_workload_name", "saved_plans")
    op.drop_index("ix_saved_plans_created_at", "saved_plans")
    op.drop_table("saved_plans")
