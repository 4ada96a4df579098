"""Initial schema of the IAM database: platform tables (outbox, processed events) and email confirmations.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from polis.migrations import create_platform_tables_v1, drop_platform_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables_v1()
    op.create_table(
        "email_confirmations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_email_confirmations"),
        sa.UniqueConstraint("token_hash", name="uq_email_confirmations_token_hash"),
    )
    op.create_index("ix_email_confirmations_email", "email_confirmations", ["email"])


def downgrade() -> None:
    op.drop_index("ix_email_confirmations_email", table_name="email_confirmations")
    op.drop_table("email_confirmations")
    drop_platform_tables_v1()
