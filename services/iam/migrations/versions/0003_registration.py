"""Registrations in progress, their confirmation links and captcha state (the registration area).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("completed_step", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("codice_fiscale", sa.String(length=16), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("birth_place_code", sa.String(length=4), nullable=True),
        sa.Column("birth_place_name", sa.String(length=100), nullable=True),
        sa.Column("personal_email", sa.String(length=254), nullable=True),
        sa.Column("security_question", sa.String(length=200), nullable=True),
        sa.Column("security_answer_hash", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_registrations_token_hash")),
    )
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registrations_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "registration_confirmations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_registration_confirmations_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_confirmations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_registration_confirmations_token_hash")),
    )
    with op.batch_alter_table("registration_confirmations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registration_confirmations_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "captcha_solutions",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_captcha_solutions")),
    )
    with op.batch_alter_table("captcha_solutions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_captcha_solutions_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("captcha_solutions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_captcha_solutions_expires_at"))
    op.drop_table("captcha_solutions")
    with op.batch_alter_table("registration_confirmations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registration_confirmations_account_id"))
    op.drop_table("registration_confirmations")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registrations_expires_at"))
    op.drop_table("registrations")
