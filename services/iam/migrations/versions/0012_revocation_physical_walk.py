"""The execution of a revocation round walks the accounts table in its physical order on PostgreSQL
(issue 16, D-REV-4): the walk's checkpoint is a heap position, and the walk ends at the table's size when
the execution began; then a sweep revokes whatever affected account the walk could not see.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A round executing at the upgrade has neither: its next batch starts the walk from the table's start
    # (the accounts it revoked already are no longer affected and are passed over).
    with op.batch_alter_table("revocation_rounds") as batch:
        batch.add_column(sa.Column("execute_position", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("execute_walk_end", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("revocation_rounds") as batch:
        batch.drop_column("execute_walk_end")
        batch.drop_column("execute_position")
