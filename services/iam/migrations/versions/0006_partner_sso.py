"""SSO for partner services: client settings, key rotation, JWT access tokens, refresh token families,
session clients, consents and back-channel logout deliveries.

Access tokens become JWTs identified by their `jti`: the opaque tokens of 0004 (15 minutes at most) are
dropped with their table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ACCESS_TOKEN_INDEXES = ("account_id", "expires_at", "refresh_family_id", "sso_session_id")


def client_columns() -> tuple[sa.Column, ...]:  # fresh objects: a Column joins one table only
    return (
        sa.Column("previous_secret_hash", sa.String(length=255), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("access_token_ttl", sa.Integer(), nullable=False, server_default="900"),
        sa.Column("refresh_token_ttl", sa.Integer(), nullable=False, server_default="28800"),
        sa.Column("refresh_family_ttl", sa.Integer(), nullable=False, server_default="2592000"),
        sa.Column("id_token_alg", sa.String(length=16), nullable=False, server_default="ES256"),
        sa.Column("audiences", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("service_roles", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("backchannel_logout_uri", sa.Text(), nullable=True),
    )


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch rebuild of oidc_clients: rebuilding drops the table, which SQLite
    # refuses while codes and tokens reference it (foreign keys are on). The server defaults fill the
    # existing rows; PostgreSQL then drops them (the models give the defaults), SQLite cannot and keeps them.
    for column in client_columns():
        op.add_column("oidc_clients", column)
    if op.get_bind().dialect.name != "sqlite":
        for column in client_columns():
            if column.server_default is not None:
                op.alter_column("oidc_clients", column.name, server_default=None)

    with op.batch_alter_table("oidc_signing_keys") as batch:
        batch.add_column(sa.Column("signs_from", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("published_until", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE oidc_signing_keys SET signs_from = created_at")
    with op.batch_alter_table("oidc_signing_keys") as batch:
        batch.alter_column("signs_from", existing_type=sa.DateTime(timezone=True), nullable=False)

    op.drop_index(op.f("ix_oidc_access_tokens_expires_at"), table_name="oidc_access_tokens")
    op.drop_index(op.f("ix_oidc_access_tokens_account_id"), table_name="oidc_access_tokens")
    op.drop_table("oidc_access_tokens")
    op.create_table(
        "oidc_access_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("credentials_version", sa.Integer(), nullable=True),
        sa.Column("refresh_family_id", sa.Uuid(), nullable=True),
        sa.Column("sso_session_id", sa.Uuid(), nullable=True),
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
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_oidc_access_tokens")),
    )
    for column in ACCESS_TOKEN_INDEXES:
        op.create_index(op.f(f"ix_oidc_access_tokens_{column}"), "oidc_access_tokens", [column])

    op.create_table(
        "oidc_refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("sso_session_id", sa.Uuid(), nullable=True),
        sa.Column("credentials_version", sa.Integer(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("auth_time", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("family_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_oidc_refresh_tokens_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oidc_clients.client_id"],
            name=op.f("fk_oidc_refresh_tokens_client_id_oidc_clients"),
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oidc_refresh_tokens")),
    )
    for column in ("family_id", "account_id", "sso_session_id", "expires_at"):
        op.create_index(op.f(f"ix_oidc_refresh_tokens_{column}"), "oidc_refresh_tokens", [column])

    op.create_table(
        "oidc_session_clients",
        sa.Column("sso_session_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oidc_clients.client_id"],
            name=op.f("fk_oidc_session_clients_client_id_oidc_clients"),
        ),
        sa.PrimaryKeyConstraint("sso_session_id", "client_id", name=op.f("pk_oidc_session_clients")),
    )
    op.create_table(
        "oidc_consents",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_oidc_consents_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["oidc_clients.client_id"], name=op.f("fk_oidc_consents_client_id_oidc_clients")
        ),
        sa.PrimaryKeyConstraint("account_id", "client_id", name=op.f("pk_oidc_consents")),
    )
    op.create_table(
        "oidc_logout_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("sso_session_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_oidc_logout_deliveries_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oidc_clients.client_id"],
            name=op.f("fk_oidc_logout_deliveries_client_id_oidc_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_logout_deliveries")),
    )
    op.create_index(
        op.f("ix_oidc_logout_deliveries_next_attempt_at"), "oidc_logout_deliveries", ["next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oidc_logout_deliveries_next_attempt_at"), table_name="oidc_logout_deliveries")
    op.drop_table("oidc_logout_deliveries")
    op.drop_table("oidc_consents")
    op.drop_table("oidc_session_clients")
    for column in ("family_id", "account_id", "sso_session_id", "expires_at"):
        op.drop_index(op.f(f"ix_oidc_refresh_tokens_{column}"), table_name="oidc_refresh_tokens")
    op.drop_table("oidc_refresh_tokens")
    for column in ACCESS_TOKEN_INDEXES:
        op.drop_index(op.f(f"ix_oidc_access_tokens_{column}"), table_name="oidc_access_tokens")
    op.drop_table("oidc_access_tokens")
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
    op.create_index(op.f("ix_oidc_access_tokens_account_id"), "oidc_access_tokens", ["account_id"])
    op.create_index(op.f("ix_oidc_access_tokens_expires_at"), "oidc_access_tokens", ["expires_at"])
    with op.batch_alter_table("oidc_signing_keys") as batch:
        batch.drop_column("published_until")
        batch.drop_column("signs_from")
    for column in reversed(client_columns()):
        op.drop_column("oidc_clients", column.name)  # SQLite 3.35+ drops a column in place
