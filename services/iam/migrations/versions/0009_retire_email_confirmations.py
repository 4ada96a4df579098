"""Retire the walking skeleton's email confirmations (issue 11 item 4): its endpoint mailed any address, so
the endpoint, its table and its event are gone; registration's own links (0003) confirm addresses.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_email_confirmations_email", table_name="email_confirmations")
    op.drop_table("email_confirmations")


def downgrade() -> None:
    # The table as 0001 made it, empty: the links it held were single-use and short-lived.
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
