"""OpenID Connect provider: clients, signing keys, codes, access tokens, SSO sessions, login throttles.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oidc_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=True),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oidc_clients")),
    )
    op.create_table(
        "oidc_login_throttles",
        sa.Column("username_key", sa.String(length=64), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("last_failed_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("username_key", name=op.f("pk_oidc_login_throttles")),
    )
    op.create_table(
        "oidc_signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("private_jwk", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_oidc_signing_keys")),
    )
    op.create_table(
        "oidc_access_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("credentials_version", sa.Integer(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_oidc_access_tokens_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oidc_clients.client_id"],
            name=op.f("fk_oidc_access_tokens_client_id_oidc_clients"),
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oidc_access_tokens")),
    )
    op.create_index(
        op.f("ix_oidc_access_tokens_account_id"), "oidc_access_tokens", ["account_id"], unique=False
    )
    op.create_index(
        op.f("ix_oidc_access_tokens_expires_at"), "oidc_access_tokens", ["expires_at"], unique=False
    )
    op.create_table(
        "oidc_authorization_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("sso_session_id", sa.Uuid(), nullable=True),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=False),
        sa.Column("auth_time", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_oidc_authorization_codes_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oidc_clients.client_id"],
            name=op.f("fk_oidc_authorization_codes_client_id_oidc_clients"),
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_oidc_authorization_codes")),
    )
    op.create_index(
        op.f("ix_oidc_authorization_codes_account_id"),
        "oidc_authorization_codes",
        ["account_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_oidc_authorization_codes_expires_at"),
        "oidc_authorization_codes",
        ["expires_at"],
        unique=False,
    )
    op.create_table(
        "oidc_sso_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("credentials_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_oidc_sso_sessions_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_sso_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_oidc_sso_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_oidc_sso_sessions_account_id"), "oidc_sso_sessions", ["account_id"], unique=False
    )
    op.create_index(
        op.f("ix_oidc_sso_sessions_expires_at"), "oidc_sso_sessions", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oidc_sso_sessions_expires_at"), table_name="oidc_sso_sessions")
    op.drop_index(op.f("ix_oidc_sso_sessions_account_id"), table_name="oidc_sso_sessions")
    op.drop_table("oidc_sso_sessions")
    op.drop_index(op.f("ix_oidc_authorization_codes_expires_at"), table_name="oidc_authorization_codes")
    op.drop_index(op.f("ix_oidc_authorization_codes_account_id"), table_name="oidc_authorization_codes")
    op.drop_table("oidc_authorization_codes")
    op.drop_index(op.f("ix_oidc_access_tokens_expires_at"), table_name="oidc_access_tokens")
    op.drop_index(op.f("ix_oidc_access_tokens_account_id"), table_name="oidc_access_tokens")
    op.drop_table("oidc_access_tokens")
    op.drop_table("oidc_signing_keys")
    op.drop_table("oidc_login_throttles")
    op.drop_table("oidc_clients")
