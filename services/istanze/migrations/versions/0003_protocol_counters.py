"""Protocol counters: one row per calendar year (D-IST-6).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "protocol_counters",
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("protocol_counters")
