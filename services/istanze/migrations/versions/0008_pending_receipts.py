"""Receipts registered before they are rendered (D-IST-3, issue 15 P6): the protocol register row is written
with the submission, the PDF and its SHA-256 filed in a second transaction; until then the row is pending.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("receipts") as batch:
        batch.alter_column("sha256", existing_type=sa.String(64), nullable=True)
        batch.alter_column("size", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("content", existing_type=sa.LargeBinary(), nullable=True)
        batch.add_column(sa.Column("pending_since", TZ, nullable=True))
        batch.add_column(sa.Column("render_inputs", sa.JSON(), nullable=True))
        batch.create_index("ix_receipts_pending_since", ["pending_since"])


def downgrade() -> None:
    # Only filed receipts can go back to the NOT NULL columns: a pending one must be completed first.
    with op.batch_alter_table("receipts") as batch:
        batch.drop_index("ix_receipts_pending_since")
        batch.drop_column("render_inputs")
        batch.drop_column("pending_since")
        batch.alter_column("content", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("size", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("sha256", existing_type=sa.String(64), nullable=False)
