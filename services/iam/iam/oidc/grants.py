"""The grants on Authlib's server: authorization code with PKCE (S256, required of every client) and
ID tokens, refresh token (rotated at each use, a reused one revokes its family), client credentials
(service to service)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidRequestError,
    InvalidScopeError,
    TokenMixin,
    grants,
    scope_to_list,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from flask import g

from iam.accounts import links
from iam.accounts.links import hash_token
from iam.clients import service as clients
from iam.extensions import db
from iam.keys import service as keys
from iam.oidc import codes, families
from iam.oidc.statements import (
    INSERT_CODE,
    READ_REFRESH,
    end_grant_transaction,
    grant_connection,
    insert_session_client,
)
from iam.oidc.users import USABLE_STATES, User, issuer
from iam.signin.sessions import as_utc

CODE_TTL = timedelta(minutes=2)
ID_TOKEN_TTL = 300


@dataclass(frozen=True)
class Code(AuthorizationCodeMixin):
    client_id: str
    account_id: uuid.UUID
    sso_session_id: uuid.UUID | None
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    auth_time: int
    user: User | None = None  # the end user, read in the same transaction that took the code
    code_hash: str = ""  # what save_token writes the issued tokens against (iam.oidc.codes)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:  # type: ignore[override]
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


class ClientScopes:
    """A grant may ask only for scopes the server supports *and* the client is allowed: anything beyond is
    refused with invalid_scope (never silently narrowed), so a misconfigured client finds out at once."""

    request: Any
    server: Any

    def validate_requested_scope(self) -> None:
        scope = self.request.payload.scope
        client = self.request.client
        if scope and client is not None:
            requested = set(scope_to_list(scope))
            if not requested <= set(clients.SUPPORTED_SCOPES) or not requested <= set(client.scopes):
                raise InvalidScopeError(state=self.request.payload.state)


class CodeGrant(ClientScopes, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def generate_authorization_code(self) -> str:
        # 256 bits from the CSPRNG in one call: Authlib's default draws each of its 48 characters with its
        # own SystemRandom.choice, about a hundred urandom calls per code.
        return links.new_token()

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: User = request.user
        data = request.payload.data
        now = datetime.now(UTC)
        client_id = request.client.get_client_id()
        # Statements built once, on a Core connection: no ORM session for two new rows nothing reads back.
        with db.engine.begin() as connection:
            connection.execute(
                INSERT_CODE,
                {
                    "code_hash": hash_token(code),
                    "client_id": client_id,
                    "account_id": user.account_id,
                    "sso_session_id": user.sso_session_id,
                    "redirect_uri": request.payload.redirect_uri,
                    "scope": request.payload.scope,
                    "nonce": data.get("nonce"),
                    "code_challenge": data["code_challenge"],
                    "code_challenge_method": data["code_challenge_method"],
                    "auth_time": user.auth_time or int(now.timestamp()),
                    "created_at": now,
                    "expires_at": now + CODE_TTL,
                },
            )
            if user.sso_session_id is not None:  # who gets a back-channel logout when this session ends
                connection.execute(
                    insert_session_client(),
                    {"sso_session_id": user.sso_session_id, "client_id": client_id, "created_at": now},
                )

    def query_authorization_code(self, code: str, client: Any) -> Code | None:
        # Spent in one statement: a code works once even when two requests race, and a second use revokes
        # what the first issued (RFC 6749 4.1.2; iam.oidc.codes).
        now = datetime.now(UTC)
        if not code or len(code) > 200:
            return None
        code_hash = hash_token(code)
        # With the account's claims, on PostgreSQL in one statement (iam.oidc.codes.spend_with_account).
        found = codes.spend_with_account(db, code_hash, now)
        if found is None:
            return None
        row, account = found
        if row.client_id != client.get_client_id() or as_utc(row.expires_at) <= now:
            return None
        user = (
            User.of(account, row.sso_session_id, row.auth_time)
            if account is not None and account.state in USABLE_STATES
            else None
        )
        return Code(
            client_id=row.client_id,
            account_id=row.account_id,
            sso_session_id=row.sso_session_id,
            redirect_uri=row.redirect_uri,
            scope=row.scope,
            nonce=row.nonce,
            code_challenge=row.code_challenge,
            code_challenge_method=row.code_challenge_method,
            auth_time=row.auth_time,
            user=user,
            code_hash=code_hash,
        )

    def delete_authorization_code(self, authorization_code: Code) -> None:
        pass  # already gone: query_authorization_code consumed it

    def authenticate_user(self, authorization_code: Code) -> User | None:
        return authorization_code.user  # read with the code: None when the account is no longer usable


class S256Challenge(CodeChallenge):
    """PKCE is required of every client, with S256 only (no 'plain')."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE is required.", state=data.get("state"))
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.", state=data.get("state"))
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: Code) -> str:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: Code) -> str:
        return authorization_code.code_challenge_method


class IdToken(OpenIDCode):
    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # the nonce protects the client, which checks it against its own session

    def get_client_algorithm(self, client: Any) -> str:
        return str(client.id_token_alg)

    def get_encode_header(self, client: Any) -> dict[str, str]:
        # Authlib asks for the header, then for the key: both from one lookup, so that a key switch
        # between the two calls cannot pair one key's kid with another key's signature.
        kid, key = keys.active_key(db, client.id_token_alg)
        g.iam_id_token_key = key
        return {"alg": client.id_token_alg, "kid": kid, "typ": "JWT"}

    def resolve_client_private_key(self, client: Any) -> Any:
        return g.pop("iam_id_token_key", None) or keys.active_key(db, client.id_token_alg)[1]

    def get_client_claims(self, client: Any) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": issuer(), "aud": [client.get_client_id()], "iat": now, "exp": now + ID_TOKEN_TTL}

    def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
        claims: dict[str, Any] = dict(user.claims(scope))
        if user.sso_session_id is not None:
            claims["sid"] = str(user.sso_session_id)  # for RP-initiated and back-channel logout
        return claims


@dataclass(frozen=True)
class RefreshRecord(TokenMixin):
    """A refresh token row that is still good, read by the refresh grant (rotated in save_token)."""

    token_hash: str
    family_id: uuid.UUID
    client_id: str
    scope: str
    auth_time: int
    sso_session_id: uuid.UUID | None
    family_expires_at: datetime
    expires_at: datetime
    issued_at: datetime
    user: User

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.expires_at <= datetime.now(UTC)

    def is_revoked(self) -> bool:
        return False


class RefreshGrant(ClientScopes, grants.RefreshTokenGrant):
    """Refresh with rotation: each use returns a new refresh token of the same family and spends the old
    one; a spent or revoked token presented again revokes the whole family (OAuth 2.0 Security BCP 4.14)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        if not refresh_token or len(refresh_token) > 200:
            return None
        now = datetime.now(UTC)
        # Core and a statement built once, on the connection save_token records the successor on (on
        # PostgreSQL in autocommit: the spend and the successor are one statement of their own there).
        connection = grant_connection(transaction=db.is_sqlite)
        row = connection.execute(READ_REFRESH, {"token_hash": hash_token(refresh_token)}).first()
        if db.is_sqlite:
            end_grant_transaction()  # SQLite: BEGIN IMMEDIATE made the read a writer; hold its lock no longer
        if row is None:
            return None
        if row.used_at is not None or row.revoked_at is not None:
            if row.revoked_at is None or row.used_at is not None:
                end_grant_transaction()  # first: on SQLite the family's end is a second writer
                revoke_family(row.family_id, now=now)  # replay of a spent token: the family is compromised
            return None
        client = self.request.client
        if client is not None and row.client_id != client.get_client_id():
            return None  # Authlib answers invalid_grant; the token stays good for its own client
        if as_utc(row.expires_at) <= now or as_utc(row.family_expires_at) <= now:
            return None
        if row.state not in USABLE_STATES or row.credentials_version != row.token_credentials_version:
            return None  # a password change or reset, a disable or a revocation ended it
        return RefreshRecord(
            token_hash=row.token_hash,
            family_id=row.family_id,
            client_id=row.client_id,
            scope=row.scope,
            auth_time=row.auth_time,
            sso_session_id=row.sso_session_id,
            family_expires_at=as_utc(row.family_expires_at),
            expires_at=as_utc(row.expires_at),
            issued_at=as_utc(row.issued_at),
            user=User.of(row, row.sso_session_id, row.auth_time),
        )

    def authenticate_user(self, refresh_token: RefreshRecord) -> User:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        pass  # spent in save_token, in the transaction that stores its successor


def revoke_family(family_id: uuid.UUID, *, now: datetime | None = None) -> None:
    """End a refresh family: every refresh token of it, and the access tokens issued from it."""
    with db.transaction() as session:
        families.end(session, family_id, now or datetime.now(UTC))


class ServiceGrant(ClientScopes, grants.ClientCredentialsGrant):
    """Client credentials: a confidential service acting for itself (its service_roles as `roles`)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
