"""The SQL of the grants' hot path, built once (building them per request was a third of a refresh), and the
token request's one database connection."""

from __future__ import annotations

from typing import Any

from flask import g
from sqlalchemy import Connection, Table, bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from iam.accounts.models import Account
from iam.extensions import db
from iam.oidc.models import AccessToken, AuthorizationCode, RefreshToken, SessionClient


def table_of(model: type[Any]) -> Table:
    """A model's table, typed as one (the declarative attribute is typed as any FromClause)."""
    table: Table = model.__table__
    return table


def insert_ignoring_duplicate(model: type[Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the dialect of the database."""
    dialect = postgresql if not db.is_sqlite else sqlite
    return dialect.insert(table_of(model)).on_conflict_do_nothing()


# The statements of the grants' hot path, built once (building them per request was a third of a refresh).
_ACCOUNTS = table_of(Account)


_REFRESH = table_of(RefreshToken)


ACCOUNT_COLUMNS = (
    _ACCOUNTS.c.id,
    _ACCOUNTS.c.username,
    _ACCOUNTS.c.first_name,
    _ACCOUNTS.c.last_name,
    _ACCOUNTS.c.personal_email,
    _ACCOUNTS.c.personal_email_verified_at,
    _ACCOUNTS.c.institutional_email,
    _ACCOUNTS.c.language,
    _ACCOUNTS.c.credentials_version,
    _ACCOUNTS.c.codice_fiscale,
    _ACCOUNTS.c.roles,
    _ACCOUNTS.c.state,
)


READ_REFRESH = (
    select(
        *(column for column in _REFRESH.c if column.name != "credentials_version"),
        _REFRESH.c.credentials_version.label("token_credentials_version"),
        *ACCOUNT_COLUMNS,
    )
    .join_from(_REFRESH, _ACCOUNTS, _ACCOUNTS.c.id == _REFRESH.c.account_id)
    .where(_REFRESH.c.token_hash == bindparam("token_hash"))
)


SPEND_REFRESH = (
    update(_REFRESH)
    .where(
        _REFRESH.c.token_hash == bindparam("spent_hash"),
        _REFRESH.c.used_at.is_(None),
        _REFRESH.c.revoked_at.is_(None),
    )
    .values(used_at=bindparam("spent_at"))
)


INSERT_ACCESS = insert(table_of(AccessToken))
INSERT_REFRESH = insert(_REFRESH)
INSERT_CODE = insert(table_of(AuthorizationCode))
_INSERT_SESSION_CLIENT: dict[bool, Any] = {}


def insert_session_client() -> Any:
    """INSERT ... ON CONFLICT DO NOTHING of a session's client, built once per dialect."""
    statement = _INSERT_SESSION_CLIENT.get(db.is_sqlite)
    if statement is None:
        statement = _INSERT_SESSION_CLIENT.setdefault(db.is_sqlite, insert_ignoring_duplicate(SessionClient))
    return statement


# PostgreSQL: a refresh's whole write in one statement outside a transaction (it is atomic by itself): the
# presented token spent if it is still good, and only then its successor and the access token's row
# inserted; no row back means another request spent it first (a replay: the caller ends the family).
# One round trip instead of BEGIN, UPDATE, INSERT, INSERT and COMMIT. The casts type the parameters that
# arrive untyped (NULLs, strings) for the uuid and timestamp columns they fill.
ROTATE_REFRESH = text(
    """
    WITH spent AS (
        UPDATE oidc_refresh_tokens SET used_at = :now
        WHERE token_hash = :spent_hash AND used_at IS NULL AND revoked_at IS NULL
        RETURNING family_id
    ), access AS (
        INSERT INTO oidc_access_tokens (
            jti, client_id, account_id, credentials_version, refresh_family_id, sso_session_id, scope,
            issued_at, expires_at
        )
        SELECT :jti, :client_id, CAST(:account_id AS uuid), :credentials_version, spent.family_id,
            CAST(:sso_session_id AS uuid), :scope, :now, CAST(:access_expires_at AS timestamptz)
        FROM spent
    )
    INSERT INTO oidc_refresh_tokens (
        token_hash, family_id, client_id, account_id, sso_session_id, credentials_version, scope, auth_time,
        issued_at, expires_at, family_expires_at
    )
    SELECT :token_hash, spent.family_id, :client_id, CAST(:account_id AS uuid), CAST(:sso_session_id AS uuid),
        :credentials_version, :scope, :auth_time, :now, CAST(:refresh_expires_at AS timestamptz),
        CAST(:family_expires_at AS timestamptz)
    FROM spent
    RETURNING family_id
    """
)


# --- one connection and one transaction per token request ---------------------------------------------

_GRANT_CONNECTION = "iam_grant_connection"


def grant_connection(*, transaction: bool = True) -> Connection:
    """The token request's one pooled connection, taken on first use: with a transaction begun
    (`transaction`), or in autocommit for statements atomic by themselves (a refresh on PostgreSQL: its
    read, then ROTATE_REFRESH). Ended by end_grant_transaction, and in any case when the token response is
    made (server.py)."""
    connection: Connection | None = g.get(_GRANT_CONNECTION)
    if connection is None:
        if transaction:
            connection = db.engine.connect()
            connection.begin()
        else:
            connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        setattr(g, _GRANT_CONNECTION, connection)
    return connection


def end_grant_transaction(*, commit: bool = False) -> None:
    """Commit (or roll back) the token request's transaction, if one is open, and give its connection back."""
    connection: Connection | None = g.pop(_GRANT_CONNECTION, None)
    if connection is None:
        return
    try:
        if commit:
            connection.commit()
    finally:
        connection.close()  # rolls back whatever was not committed
