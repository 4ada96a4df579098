"""The accounts read model (D-ACC-8) and the delivery log's account, recipients, claim and times.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("personal_email", sa.String(length=254), nullable=True),
        sa.Column("institutional_email", sa.String(length=254), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_accounts"),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("account_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("recipients", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("claim_token", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
    # Rows of the walking skeleton had one recipient.
    op.execute("UPDATE deliveries SET recipients = json_build_array(recipient)" if _postgresql() else
               "UPDATE deliveries SET recipients = json_array(recipient)")
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("recipients", existing_type=sa.JSON(), nullable=False)
        batch.create_index("ix_deliveries_account_id", ["account_id"])


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_account_id")
        batch.drop_column("last_attempt_at")
        batch.drop_column("occurred_at")
        batch.drop_column("claim_token")
        batch.drop_column("recipients")
        batch.drop_column("account_id")
    op.drop_table("accounts")
