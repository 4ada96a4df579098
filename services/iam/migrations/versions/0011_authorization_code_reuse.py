"""A spent authorization code is kept (used_at) with what it issued, so that a second use revokes those
tokens (RFC 6749 section 4.1.2; issue 17 item 7); codes are purged a day after they expire.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_authorization_codes") as batch:
        batch.add_column(sa.Column("used_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reused_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("issued_jti", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("issued_family_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oidc_authorization_codes") as batch:
        batch.drop_column("issued_family_id")
        batch.drop_column("issued_jti")
        batch.drop_column("reused_at")
        batch.drop_column("used_at")
