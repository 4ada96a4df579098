"""Procedures, versioned, with their windows as local times and their zone (D-IST-1).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "procedures",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title_it", sa.String(200), nullable=False),
        sa.Column("title_en", sa.String(200), nullable=False),
        sa.Column("description_it", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("staff_categories", sa.JSON(), nullable=False),
        sa.Column("opens_local", sa.DateTime(timezone=False), nullable=False),
        sa.Column("closes_local", sa.DateTime(timezone=False), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("code", "version", name="uq_procedures_code_version"),
    )


def downgrade() -> None:
    op.drop_table("procedures")
