"""Withdrawn submissions (D-IST-3): each keeps its protocol number, segnatura and times.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "withdrawals",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("application_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("protocol_year", sa.Integer(), nullable=False),
        sa.Column("protocol_number", sa.BigInteger(), nullable=False),
        sa.Column("segnatura", sa.String(200), nullable=False),
        sa.Column("submitted_at", TZ, nullable=False),
        sa.Column("withdrawn_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("withdrawals")
