"""The receipt's PDF and the outbox's payload stored out of line without compression on PostgreSQL (issue
15, P6): a PDF/A receipt is already deflated, and the istanze.istanza_submitted event carries it base64
(about 37 KB), so TOAST's pglz compression ran over both on every submission, found too little to keep and
stored them as they were: CPU of PostgreSQL for nothing. STORAGE EXTERNAL keeps them out of line, uncompressed.
Nothing changes on SQLite.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = (("receipts", "content"), ("outbox", "payload"))


def _storage(kind: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE {kind}")


def upgrade() -> None:
    _storage("EXTERNAL")


def downgrade() -> None:
    _storage("EXTENDED")  # PostgreSQL's default for bytea and text
