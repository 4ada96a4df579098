"""Security findings (issue 11 item 2): temporary passwords kept as digests, found by (account, digest).

A login tried every outstanding temporary password's argon2 hash, one more run each, which told a timing
observer that a recovery had matched. Temporary passwords are now stored as SHA-256 digests (random,
short-lived, single use) with at most one live per account; the live argon2 ones cannot be checked any more
and end here (a new request issues another).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_temporary_passwords_account_digest", "temporary_passwords", ["account_id", "password_hash"]
    )
    op.execute(
        sa.text(
            "UPDATE temporary_passwords SET expires_at = CURRENT_TIMESTAMP "
            "WHERE used_at IS NULL AND password_hash NOT LIKE 'sha256:%'"
        )
    )


def downgrade() -> None:
    op.drop_index("ix_temporary_passwords_account_digest", table_name="temporary_passwords")
