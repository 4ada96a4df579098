"""Verifying IAM's access tokens (userinfo, introspection, IAM's own API) and the endpoints that need it:
userinfo, revocation (RFC 7009) and introspection (RFC 7662); the ID token hint of logout."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authlib.oauth2.rfc6749 import (
    TokenMixin,
    scope_to_list,
)
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from flask import Flask, current_app
from polis.auth import InvalidToken, JwksCache, KeysUnavailable, TokenVerifier
from sqlalchemy import insert, select, update

from iam.accounts.links import hash_token
from iam.accounts.models import Account
from iam.clients import service as clients
from iam.extensions import db
from iam.keys import service as keys
from iam.oidc.grants import revoke_family
from iam.oidc.models import AccessToken, RefreshToken
from iam.oidc.statements import table_of
from iam.oidc.users import USABLE_STATES, User, issuer
from iam.signin.sessions import as_utc

ALG = keys.ALG
ALGORITHMS = list(clients.ID_TOKEN_ALGORITHMS)
INTROSPECTION_ROLE = "introspection"  # a client with this service role may introspect any token
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class AccessRecord(TokenMixin):
    """A verified, live access token: its claims, and the end user for a user's token."""

    claims: dict[str, Any]
    user: User | None
    client: clients.Client | None

    @property
    def client_id(self) -> str:
        return str(self.claims.get("client_id", ""))

    @property
    def scope(self) -> str:  # Authlib's userinfo endpoint reads the attribute
        return self.get_scope()

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def get_expires_in(self) -> int:
        return int(self.claims["exp"]) - int(self.claims["iat"])

    def is_expired(self) -> bool:
        return int(self.claims["exp"]) <= time.time()

    def is_revoked(self) -> bool:
        return False  # verify_access_token returns live tokens only

    def get_user(self) -> User | None:
        return self.user

    def get_client(self) -> clients.Client | None:
        return self.client


VERIFIERS = "iam.token_verifiers"
KEY_SET_SECONDS = 30.0


@dataclass(frozen=True)
class _Verifiers:
    """polis.auth's verifier over IAM's own keys, read in-process (no HTTP to itself), one cache per app."""

    access_token: TokenVerifier
    id_token_hint: TokenVerifier

    @classmethod
    def new(cls) -> _Verifiers:
        # An unknown kid reads the key table again at once: a key just rotated in signs from then on, and the
        # read costs what the revocation check below costs anyway.
        own_keys = JwksCache(lambda: keys.public_jwks(db), max_age=KEY_SET_SECONDS, min_refresh_interval=0)
        algorithms = tuple(ALGORITHMS)
        return cls(
            # No audience of its own (introspection answers for every API) and no clock skew (its own clock).
            access_token=TokenVerifier(
                issuer=issuer(), audience=None, keys=own_keys, clock_skew=0, algorithms=algorithms
            ),
            # Logout takes expired ID tokens as hints: only who signed it matters.
            id_token_hint=TokenVerifier(
                issuer=issuer(),
                audience=None,
                keys=own_keys,
                algorithms=algorithms,
                types=None,
                required=(),
                kind="ID token",
                check_times=False,
            ),
        )


def _verifiers() -> _Verifiers:
    found: _Verifiers | None = current_app.extensions.get(VERIFIERS)
    if found is None:
        found = current_app.extensions.setdefault(VERIFIERS, _Verifiers.new())
    return found


def forget_cached(app: Flask) -> None:
    """Drop the app's verifiers and their keys (a new app, or a test that changed the key table)."""
    app.extensions.pop(VERIFIERS, None)


def verify_access_token(token_string: str) -> AccessRecord | None:
    """The access token if IAM issued it and it still stands: signature by a published key, `at+jwt`,
    this issuer, not expired; a user's token also recorded, not revoked, and its account's credentials
    unchanged. None otherwise (never an exception)."""
    if not token_string or len(token_string) > MAX_TOKEN_LENGTH:
        return None
    try:
        claims = _verifiers().access_token.claims(token_string)
    except (InvalidToken, KeysUnavailable):
        return None
    # What only IAM can check: the client still registered, the token recorded and not revoked, the account
    # usable with the credentials the token was issued under.
    client = clients.find(db, str(claims["client_id"]))
    if client is None:
        return None
    with db.transaction() as session:
        found = session.execute(
            select(AccessToken, Account)
            .outerjoin(Account, Account.id == AccessToken.account_id)
            .where(AccessToken.jti == str(claims["jti"]))
        ).first()
    if found is None:
        # Only a service's own token (client credentials) is unrecorded; its sub is its client id.
        if claims["sub"] != client.client_id:
            return None
        return AccessRecord(claims=claims, user=None, client=client)
    row, account = found
    if row.revoked_at is not None:
        return None
    if row.account_id is None:
        return AccessRecord(claims=claims, user=None, client=client)
    if (
        account is None
        or account.state not in USABLE_STATES
        or account.credentials_version != row.credentials_version
    ):
        return None
    user = User.of(account, _uuid_or_none(claims.get("sid")), claims.get("auth_time"))
    return AccessRecord(claims=claims, user=user, client=client)


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def is_for_api(record: AccessRecord, api: str) -> bool:
    """Whether a verified token was issued for this Polis API: its audience and its scope."""
    audiences = record.claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
    return clients.audience_of(api) in audiences and api in scope_to_list(record.get_scope())


class BearerValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> AccessRecord | None:
        return verify_access_token(token_string)


class UserInfoView(UserInfoEndpoint):
    def get_issuer(self) -> str:
        return issuer()

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return user.claims(scope)

    def resolve_private_key(self) -> Any:
        return keys.active_key(db)[1]


@dataclass(frozen=True)
class RefreshRow(TokenMixin):
    """A refresh token as revocation and introspection see it (live or not)."""

    row: RefreshToken

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.row.client_id)

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((as_utc(self.row.expires_at) - as_utc(self.row.issued_at)).total_seconds())

    def is_expired(self) -> bool:
        return as_utc(self.row.expires_at) <= datetime.now(UTC)

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or self.row.used_at is not None


def _find_token(token_string: str, hint: str | None) -> AccessRecord | RefreshRow | None:
    if not token_string or len(token_string) > MAX_TOKEN_LENGTH:
        return None
    if token_string.count(".") == 2:  # whatever the hint says (RFC 7009 2.1: it only speeds up the lookup)
        return verify_access_token(token_string)
    with db.transaction() as session:
        row = session.get(RefreshToken, hash_token(token_string))
    return RefreshRow(row) if row is not None else None


class Revocation(RevocationEndpoint):
    """Revoking a refresh token ends its family and the access tokens issued from it; revoking an access
    token ends that token (a service's token gets a deny row). Unknown tokens: 200, as RFC 7009 says."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> AccessRecord | RefreshRow | None:
        return _find_token(token_string, token_type_hint)

    def revoke_token(self, token: AccessRecord | RefreshRow, request: Any) -> None:
        now = datetime.now(UTC)
        if isinstance(token, RefreshRow):
            revoke_family(token.row.family_id, now=now)
            return
        claims = token.claims
        with db.transaction() as session:
            done = session.execute(
                update(AccessToken).where(AccessToken.jti == str(claims["jti"])).values(revoked_at=now)
            )
            if done.rowcount == 0:  # type: ignore[attr-defined]
                session.execute(
                    insert(table_of(AccessToken)).values(
                        jti=str(claims["jti"]),
                        client_id=token.client_id,
                        scope=token.get_scope(),
                        issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
                        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
                        revoked_at=now,
                    )
                )


class Introspection(IntrospectionEndpoint):
    """A client may introspect the tokens issued to it; a client with the `introspection` service role
    (a resource server of a partner) any token."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> AccessRecord | RefreshRow | None:
        return _find_token(token_string, token_type_hint)

    def check_permission(self, token: Any, client: Any, request: Any) -> bool:
        return bool(token.check_client(client) or INTROSPECTION_ROLE in client.service_roles)

    def introspect_token(self, token: AccessRecord | RefreshRow) -> dict[str, Any]:
        if isinstance(token, RefreshRow):
            row = token.row
            return {
                "active": True,
                "token_type": "refresh_token",
                "client_id": row.client_id,
                "scope": row.scope,
                "sub": str(row.account_id),
                "iss": issuer(),
                "iat": int(as_utc(row.issued_at).timestamp()),
                "exp": int(as_utc(row.expires_at).timestamp()),
            }
        claims = token.claims
        payload: dict[str, Any] = {
            key: claims[key] for key in ("sub", "aud", "iss", "exp", "iat", "jti", "scope") if key in claims
        }
        payload.update({"active": True, "token_type": "Bearer", "client_id": token.client_id})
        if token.user is not None and token.user.username:
            payload["username"] = token.user.username
        return payload

    def create_introspection_payload(self, token: Any) -> dict[str, Any]:
        if token is None or token.is_expired() or token.is_revoked():
            return {"active": False}
        return self.introspect_token(token)


def decode_id_token_hint(hint: str) -> dict[str, Any] | None:
    """The claims of an ID token this provider signed (expired ones too: logout accepts them), else None."""
    if not hint or len(hint) > MAX_TOKEN_LENGTH:
        return None
    try:
        return _verifiers().id_token_hint.claims(hint)
    except (InvalidToken, KeysUnavailable):
        return None
