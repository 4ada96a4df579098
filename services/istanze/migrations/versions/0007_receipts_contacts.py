"""Receipts in the user's archive (D-IST-3/6) and contact details with their history (D-IST-4).

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

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "receipts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("application_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("account_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("procedure_code", sa.String(64), nullable=False, index=True),
        sa.Column("procedure_version", sa.Integer(), nullable=False),
        sa.Column("procedure_title", sa.String(200), nullable=False),
        sa.Column("protocol_year", sa.Integer(), nullable=False),
        sa.Column("protocol_number", sa.BigInteger(), nullable=False),
        sa.Column("segnatura", sa.String(200), nullable=False),
        sa.Column("registered_at", TZ, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("withdrawn_at", TZ, nullable=True),
        sa.UniqueConstraint("protocol_year", "protocol_number"),
    )
    op.create_table(
        "contact_details",
        sa.Column("account_id", sa.Uuid(), primary_key=True),
        sa.Column("mobile_phone", sa.String(20), nullable=True),
        sa.Column("home_phone", sa.String(20), nullable=True),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("postal_code", sa.String(16), nullable=True),
        sa.Column("nation", sa.String(64), nullable=False),
        sa.Column("province", sa.String(2), nullable=True),
        sa.Column("comune", sa.String(100), nullable=True),
        sa.Column("comune_code", sa.String(4), nullable=True),
        sa.Column("locality", sa.String(100), nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "contact_changes",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("account_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("changed_at", TZ, nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("contact_changes")
    op.drop_table("contact_details")
    op.drop_table("receipts")
