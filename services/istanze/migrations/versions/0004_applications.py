"""Declared staff categories and applications (one per user per procedure) (D-IST-2, D-IST-6).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_profiles",
        sa.Column("account_id", sa.Uuid(), primary_key=True),
        sa.Column("staff_category", sa.String(32), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("account_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("procedure_code", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("account_id", "procedure_code", name="uq_applications_account_id_procedure_code"),
    )


def downgrade() -> None:
    op.drop_table("applications")
    op.drop_table("staff_profiles")
