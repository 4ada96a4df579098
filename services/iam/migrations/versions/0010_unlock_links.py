"""Unlock links (issue 11 item 5): an account locked at the ceiling of consecutive failures is unlocked by
its owner through a single-use link emailed to its addresses, no longer only by ops.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "oidc_unlock_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("expires_at", when, nullable=False),
        sa.Column("used_at", when, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_unlock_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_oidc_unlock_links_token_hash")),
    )
    op.create_index(op.f("ix_oidc_unlock_links_account_id"), "oidc_unlock_links", ["account_id"])
    with op.batch_alter_table("oidc_login_throttles") as batch_op:
        batch_op.add_column(sa.Column("unlock_mailed_at", when, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oidc_login_throttles") as batch_op:
        batch_op.drop_column("unlock_mailed_at")
    op.drop_index(op.f("ix_oidc_unlock_links_account_id"), table_name="oidc_unlock_links")
    op.drop_table("oidc_unlock_links")
