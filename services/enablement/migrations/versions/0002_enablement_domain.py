"""The enablement domain: accounts copy, offices and operators, requests and identifications, personal
codes, audit (D-ENA-2 .. D-ENA-10).

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

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.Uuid(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("personal_email", sa.String(254), nullable=True),
        sa.Column("institutional_email", sa.String(254), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("at", TZ, nullable=False, index=True),
        sa.Column("action", sa.String(64), nullable=False, index=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("source_address", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_table(
        "offices",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "operator_assignments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("operator_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("office_id", sa.Uuid(), sa.ForeignKey("offices.id"), nullable=False),
        sa.Column("assigned_by", sa.String(64), nullable=False),
        sa.Column("assigned_at", TZ, nullable=False),
        sa.UniqueConstraint("operator_id", "office_id"),
    )
    op.create_table(
        "personal_codes",
        sa.Column("account_id", sa.Uuid(), primary_key=True),
        sa.Column("code_hash", sa.String(255), nullable=False),
        sa.Column("temporary_hash", sa.String(255), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", TZ, nullable=True),
        sa.Column("locked_until", TZ, nullable=True),
        sa.Column("recovery_failures", sa.Integer(), nullable=False),
        sa.Column("recovery_locked_until", TZ, nullable=True),
        sa.Column("changed_at", TZ, nullable=False),
    )
    op.create_table(
        "enablement_requests",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("number", sa.String(16), nullable=False, unique=True),
        sa.Column("account_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("codice_fiscale", sa.String(16), nullable=False, index=True),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False, index=True),
        sa.Column("reminded_at", TZ, nullable=True),
        sa.Column("receipt_confirmed_at", TZ, nullable=True),
        sa.Column("closed_at", TZ, nullable=True),
    )
    op.create_table(
        "identifications",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "request_id", sa.Uuid(), sa.ForeignKey("enablement_requests.id"), nullable=False, index=True
        ),
        sa.Column("operator_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("office_id", sa.Uuid(), sa.ForeignKey("offices.id"), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("document_type", sa.String(32), nullable=True),
        sa.Column("document_number", sa.String(32), nullable=True),
        sa.Column("document_issuer", sa.String(200), nullable=True),
        sa.Column("document_issued_on", sa.Date(), nullable=True),
        sa.Column("document_expires_on", sa.Date(), nullable=True),
        sa.Column("form_signed", sa.Boolean(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("source_address", sa.String(64), nullable=True),
        sa.Column("http_request_id", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    for table in (
        "identifications",
        "enablement_requests",
        "personal_codes",
        "operator_assignments",
        "offices",
        "audit_entries",
        "accounts",
    ):
        op.drop_table(table)
