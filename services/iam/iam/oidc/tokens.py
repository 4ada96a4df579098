"""Token generation: JWT access tokens (RFC 9068, `typ: at+jwt`) and ID tokens signed by iam.keys (ES256, or
RS256 for a client that asks), and what is recorded of them. Access tokens of end users are recorded by
`jti`, so that revocation, a refresh family's end and a credentials change (password change or reset,
disable, revocation) end them for userinfo and introspection at once; resource servers see them end at
expiry."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    scope_to_list,
)

from iam.accounts.links import hash_token, new_token
from iam.clients import service as clients
from iam.extensions import db
from iam.keys import service as keys
from iam.oidc import codes
from iam.oidc.grants import ID_TOKEN_TTL, Code, RefreshRecord, revoke_family
from iam.oidc.statements import (
    INSERT_ACCESS,
    INSERT_REFRESH,
    ROTATE_REFRESH,
    SPEND_REFRESH,
    end_grant_transaction,
    grant_connection,
)
from iam.oidc.users import User, issuer

ACCESS_TOKEN_TTL = 900  # the default of a client's access_token_ttl


def _audiences(client: clients.Client, scopes: Iterable[str]) -> list[str]:
    """The resource servers of a token: the client's audiences, an API's only when its scope is granted."""
    granted = set(scopes)
    prefix = clients.AUDIENCE_PREFIX
    chosen = [a for a in client.audiences if not a.startswith(prefix) or a[len(prefix) :] in granted]
    return chosen or [issuer()]


def _default_service_scope(client: clients.Client) -> str:
    return " ".join(s for s in client.scopes if s in clients.API_SCOPES)


def generate_token(
    grant_type: str,
    client: clients.Client,
    user: User | None = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict[str, Any]:
    """The token response: a JWT access token (RFC 9068), an opaque refresh token when the client may
    refresh (end users only), and on refresh a fresh ID token (OpenID Connect Core 12.2)."""
    if user is None and not scope:
        scope = _default_service_scope(client)
    scope = scope or ""
    scopes = scope_to_list(scope)
    now = int(time.time())
    ttl = int(expires_in or client.access_token_ttl)
    claims: dict[str, Any] = {
        "iss": issuer(),
        "aud": _audiences(client, scopes),
        "client_id": client.client_id,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
        "scope": scope,
    }
    if user is not None:
        claims["sub"] = user.subject
        claims["roles"] = ["user", *user.roles]
        if user.auth_time is not None:
            claims["auth_time"] = user.auth_time
        if user.sso_session_id is not None:
            claims["sid"] = str(user.sso_session_id)
    else:
        claims["sub"] = client.client_id
        claims["roles"] = list(client.service_roles)
    token: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": keys.sign(db, claims, typ="at+jwt"),
        "expires_in": ttl,
        "scope": scope,
    }
    if include_refresh_token and user is not None and client.check_grant_type("refresh_token"):
        token["refresh_token"] = new_token()
    if grant_type == "refresh_token" and user is not None and "openid" in scopes:
        token["id_token"] = _refreshed_id_token(client, user, scope, now)
    return token


def _refreshed_id_token(client: clients.Client, user: User, scope: str, now: int) -> str:
    claims: dict[str, Any] = dict(user.claims(scope))
    claims.update({"iss": issuer(), "aud": [client.client_id], "iat": now, "exp": now + ID_TOKEN_TTL})
    if user.auth_time is not None:
        claims["auth_time"] = user.auth_time
    if user.sso_session_id is not None:
        claims["sid"] = str(user.sso_session_id)
    return keys.sign(db, claims, alg=client.id_token_alg, typ="JWT")


def unverified_claims(compact: str) -> dict[str, Any]:
    """The payload of a JWS this process just signed (no verification: for bookkeeping only)."""
    payload = compact.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def save_token(token: dict[str, Any], request: Any) -> None:
    """Record what was issued, in one transaction: the access token's jti (end users' tokens), and the
    refresh token — spending the one it replaces, so that two racing refreshes cannot both succeed."""
    user: User | None = request.user
    client: clients.Client = request.client
    if user is None:
        return  # client credentials: nothing to record (a revocation adds a deny row)
    now = datetime.now(UTC)
    claims = unverified_claims(token["access_token"])
    previous: RefreshRecord | None = getattr(request, "refresh_token", None)
    code: Code | None = getattr(request, "authorization_code", None)
    new_refresh = token.get("refresh_token")
    family_id = previous.family_id if previous is not None else (uuid.uuid4() if new_refresh else None)
    if previous is not None and not db.is_sqlite:
        _rotate(previous, token, client, user, claims["jti"], now)
        return
    # Core and statements built once, in the token request's transaction (a refresh read its token in it).
    connection = grant_connection()
    try:
        if previous is not None:
            spent = connection.execute(SPEND_REFRESH, {"spent_hash": previous.token_hash, "spent_at": now})
            if spent.rowcount != 1:
                raise _SpentMeanwhile()
        connection.execute(
            INSERT_ACCESS,
            {
                "jti": claims["jti"],
                "client_id": client.client_id,
                "account_id": user.account_id,
                "credentials_version": user.credentials_version,
                "refresh_family_id": family_id,
                "sso_session_id": user.sso_session_id,
                "scope": token.get("scope", ""),
                "issued_at": now,
                "expires_at": now + timedelta(seconds=int(token["expires_in"])),
                "revoked_at": None,
            },
        )
        if new_refresh and family_id is not None:
            family_expires_at = (
                previous.family_expires_at
                if previous is not None
                else now + timedelta(seconds=client.refresh_family_ttl)
            )
            connection.execute(
                INSERT_REFRESH,
                {
                    "token_hash": hash_token(new_refresh),
                    "family_id": family_id,
                    "client_id": client.client_id,
                    "account_id": user.account_id,
                    "sso_session_id": user.sso_session_id,
                    "credentials_version": user.credentials_version,
                    "scope": token.get("scope", ""),
                    "auth_time": user.auth_time or int(now.timestamp()),
                    "issued_at": now,
                    "expires_at": min(now + timedelta(seconds=client.refresh_token_ttl), family_expires_at),
                    "family_expires_at": family_expires_at,
                    "used_at": None,
                    "revoked_at": None,
                },
            )
        replayed = code is not None and codes.record_issued(
            connection, code.code_hash, jti=claims["jti"], family_id=family_id
        )
        if replayed:
            raise _CodeReplayed()  # rolled back: no token of a replayed code leaves
        end_grant_transaction(commit=True)
    except _CodeReplayed:
        end_grant_transaction()  # rolled back: no token of a replayed code leaves
        raise InvalidGrantError() from None
    except _SpentMeanwhile:
        # Another request spent it between our read and this write: that is a replay, and the family ends
        # (after this transaction rolled back: on SQLite a second writer could not start inside it).
        end_grant_transaction()
        assert previous is not None
        revoke_family(previous.family_id)
        raise InvalidGrantError() from None


def _rotate(
    previous: RefreshRecord,
    token: dict[str, Any],
    client: clients.Client,
    user: User,
    jti: str,
    now: datetime,
) -> None:
    """A refresh on PostgreSQL: spend the presented token and record its successor and the access token in
    one statement (statements.ROTATE_REFRESH, on the autocommit connection the token was read on); when
    another request spent it first, end the family (a replay) and refuse."""
    new_refresh = token["refresh_token"]  # RefreshGrant always rotates (INCLUDE_NEW_REFRESH_TOKEN)
    scope = token.get("scope", "")
    try:
        spent = (
            grant_connection(transaction=False)
            .execute(
                ROTATE_REFRESH,
                {
                    "now": now,
                    "spent_hash": previous.token_hash,
                    "jti": jti,
                    "client_id": client.client_id,
                    "account_id": user.account_id,
                    "credentials_version": user.credentials_version,
                    "sso_session_id": user.sso_session_id,
                    "scope": scope,
                    "access_expires_at": now + timedelta(seconds=int(token["expires_in"])),
                    "token_hash": hash_token(new_refresh),
                    "auth_time": user.auth_time or int(now.timestamp()),
                    "refresh_expires_at": min(
                        now + timedelta(seconds=client.refresh_token_ttl), previous.family_expires_at
                    ),
                    "family_expires_at": previous.family_expires_at,
                },
            )
            .first()
        )
    finally:
        end_grant_transaction()
    if spent is None:  # spent by another request between our read and this write: a replay
        revoke_family(previous.family_id)
        raise InvalidGrantError()


class _CodeReplayed(Exception):
    """The code was used a second time while its first exchange was recording its tokens."""


class _SpentMeanwhile(Exception):
    """Two requests spent the same refresh token: the loser rolls back, then ends the family."""
