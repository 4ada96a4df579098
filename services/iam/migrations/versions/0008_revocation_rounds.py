"""Revocation rounds of inactive accounts (issue 16, D-REV-*): the rounds, their notices' checkpoints and
the accounts kept by a login.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "revocation_rounds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cutoff", sa.Date(), nullable=False),
        sa.Column("cutoff_at", when, nullable=False),
        sa.Column("deadline", when, nullable=False),
        sa.Column("reminder_days", sa.JSON(), nullable=False),
        sa.Column("affected_at_preview", sa.Integer(), nullable=True),
        sa.Column("previewed_at", when, nullable=True),
        sa.Column("affected_at_announce", sa.Integer(), nullable=True),
        sa.Column("announced_count", sa.Integer(), nullable=False),
        sa.Column("kept_count", sa.Integer(), nullable=True),
        sa.Column("revoked_count", sa.Integer(), nullable=False),
        sa.Column("execute_cursor", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("announced_by", sa.String(length=80), nullable=True),
        sa.Column("announced_at", when, nullable=True),
        sa.Column("cancelled_by", sa.String(length=80), nullable=True),
        sa.Column("cancelled_at", when, nullable=True),
        sa.Column("execution_started_at", when, nullable=True),
        sa.Column("done_at", when, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_revocation_rounds_state"), "revocation_rounds", ["state"])
    op.create_table(
        "revocation_notices",
        sa.Column("round_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("due_at", when, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.Uuid(), nullable=True),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("started_at", when, nullable=True),
        sa.Column("finished_at", when, nullable=True),
        sa.ForeignKeyConstraint(["round_id"], ["revocation_rounds.id"]),
        sa.PrimaryKeyConstraint("round_id", "name"),
    )
    op.create_table(
        "revocation_keeps",
        sa.Column("round_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("kept_at", when, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["round_id"], ["revocation_rounds.id"]),
        sa.PrimaryKeyConstraint("round_id", "account_id"),
    )


def downgrade() -> None:
    op.drop_table("revocation_keeps")
    op.drop_table("revocation_notices")
    op.drop_index(op.f("ix_revocation_rounds_state"), table_name="revocation_rounds")
    op.drop_table("revocation_rounds")
