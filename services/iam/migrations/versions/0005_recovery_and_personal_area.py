"""Recovery, personal-email changes, MI imports (owned by the recovery and personal-area work).

Recovery (D-ACC-5/6) uses the temporary_passwords table of 0002 and MI imports (D-ACC-2) the accounts
table; only the pending personal-email changes of the Area Riservata (D-ACC-7) need a table of their own.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_verifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_email_verifications_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_verifications")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_verifications_token_hash")),
    )
    op.create_index(
        op.f("ix_email_verifications_account_id"), "email_verifications", ["account_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_email_verifications_account_id"), table_name="email_verifications")
    op.drop_table("email_verifications")
