"""Submission columns of applications: idempotency key, protocol number, segnatura (D-IST-3/6).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("submission_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("protocol_year", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("protocol_number", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("segnatura", sa.String(200), nullable=True))
        batch.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        for name in ("submitted_at", "segnatura", "protocol_number", "protocol_year", "submission_key"):
            batch.drop_column(name)
