"""The OpenID Connect provider on Authlib's Flask server.

Grants: authorization code with PKCE (S256, required of every client), refresh token (rotated at each use,
a reused one revokes its family), client credentials (service to service). Tokens: JWT access tokens
(RFC 9068, `typ: at+jwt`) and ID tokens, signed by keys.py (ES256, or RS256 for a client that asks);
revocation (RFC 7009) and introspection (RFC 7662). Access tokens of end users are also recorded by `jti`,
so that revocation, a refresh family's end and a credentials change (password change or reset, disable,
revocation) end them for userinfo and introspection at once; resource servers see them end at expiry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    TokenMixin,
    grants,
    scope_to_list,
)
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from flask import Flask, current_app, g
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from iam.accounts.models import Account, AccountState
from iam.extensions import db
from iam.oidc import clients, codes, families, keys
from iam.oidc.models import AccessToken, AuthorizationCode, RefreshToken, SessionClient
from iam.oidc.sessions import as_utc

SERVER = "iam.oidc_server"
CODE_TTL = timedelta(minutes=2)
ACCESS_TOKEN_TTL = 900  # the default of a client's access_token_ttl
ID_TOKEN_TTL = 300
ALG = keys.ALG
ALGORITHMS = list(clients.ID_TOKEN_ALGORITHMS)
USABLE_STATES = (AccountState.ACTIVE.value,)
FISCAL_NUMBER_CLAIM = "https://attributes.eid.gov.it/fiscal_number"
INTROSPECTION_ROLE = "introspection"  # a client with this service role may introspect any token
MAX_TOKEN_LENGTH = 4096


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def issuer() -> str:
    return str(current_app.config["OIDC_ISSUER"])


@dataclass(frozen=True)
class User:
    """The end user as the provider sees it: a copy of the account's claims at the time of the request."""

    account_id: uuid.UUID
    username: str | None
    first_name: str
    last_name: str
    email: str | None
    email_verified: bool
    language: str
    credentials_version: int
    codice_fiscale: str | None = None
    roles: tuple[str, ...] = ()
    sso_session_id: uuid.UUID | None = None
    auth_time: int | None = None  # when the user typed the password (the SSO session's start)

    @classmethod
    def of(
        cls, account: Account | Any, sso_session_id: uuid.UUID | None = None, auth_time: int | None = None
    ) -> User:
        """From an Account, or a row of the account columns of ACCOUNT_COLUMNS (the refresh grant's read)."""
        verified = bool(account.institutional_email) or account.personal_email_verified_at is not None
        return cls(
            account_id=account.id,
            username=account.username,
            first_name=account.first_name,
            last_name=account.last_name,
            # D-ACC-8: the institutional address where there is one (Account.reference_email)
            email=account.institutional_email or account.personal_email,
            email_verified=verified,
            language=account.language,
            credentials_version=account.credentials_version,
            codice_fiscale=account.codice_fiscale,
            roles=tuple(account.roles or ()),
            sso_session_id=sso_session_id,
            auth_time=auth_time,
        )

    def get_user_id(self) -> str:
        return self.subject

    @property
    def subject(self) -> str:
        # Stable and opaque: the account id never changes, unlike a username or an email address.
        return str(self.account_id)

    def claims(self, scope: str) -> UserInfo:
        """The claims this scope releases: profile, email, and the codice fiscale under `fiscal_number`
        with the claim name SPID/CIE relying parties already read."""
        info = UserInfo(
            sub=self.subject,
            preferred_username=self.username,
            given_name=self.first_name,
            family_name=self.last_name,
            name=f"{self.first_name} {self.last_name}",
            locale=self.language,
            email=self.email,
            email_verified=self.email_verified,
        ).filter(scope)
        if self.codice_fiscale and "fiscal_number" in scope_to_list(scope or ""):
            info[FISCAL_NUMBER_CLAIM] = self.codice_fiscale
        return info


def load_user(
    account_id: uuid.UUID, sso_session_id: uuid.UUID | None = None, auth_time: int | None = None
) -> User | None:
    with db.transaction() as session:
        account = session.get(Account, account_id)
        if account is None or account.state not in USABLE_STATES:
            return None
        return User.of(account, sso_session_id, auth_time)


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


def new_token() -> str:
    """A code or refresh token: 256 bits from the CSPRNG in one call (Authlib's default draws each of its
    48 characters with its own SystemRandom.choice, about a hundred urandom calls per token)."""
    return secrets.token_urlsafe(32)


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
        return new_token()

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: User = request.user
        data = request.payload.data
        now = datetime.now(UTC)
        client_id = request.client.get_client_id()
        with db.transaction() as session:  # plain INSERTs: no ORM unit of work for new rows
            session.execute(
                insert(_table(AuthorizationCode)).values(
                    code_hash=sha256(code),
                    client_id=client_id,
                    account_id=user.account_id,
                    sso_session_id=user.sso_session_id,
                    redirect_uri=request.payload.redirect_uri,
                    scope=request.payload.scope,
                    nonce=data.get("nonce"),
                    code_challenge=data["code_challenge"],
                    code_challenge_method=data["code_challenge_method"],
                    auth_time=user.auth_time or int(now.timestamp()),
                    created_at=now,
                    expires_at=now + CODE_TTL,
                )
            )
            if user.sso_session_id is not None:  # who gets a back-channel logout when this session ends
                session.execute(
                    _insert_ignoring_duplicate(SessionClient).values(
                        sso_session_id=user.sso_session_id, client_id=client_id, created_at=now
                    )
                )

    def query_authorization_code(self, code: str, client: Any) -> Code | None:
        # Spent in one statement: a code works once even when two requests race, and a second use revokes
        # what the first issued (RFC 6749 4.1.2; iam.oidc.codes).
        now = datetime.now(UTC)
        if not code or len(code) > 200:
            return None
        code_hash = sha256(code)
        with db.transaction() as session:
            row = codes.spend(session, code_hash, now)
            if row is None or row.client_id != client.get_client_id() or as_utc(row.expires_at) <= now:
                return None
            # The account in the same transaction (one round trip less than authenticate_user's own).
            account = session.get(Account, row.account_id)
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


# --- refresh tokens -------------------------------------------------------------------------------------


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
        with db.engine.connect() as connection:  # Core and a statement built once: the grant's hot path
            row = connection.execute(_READ_REFRESH, {"token_hash": sha256(refresh_token)}).first()
        if row is None:
            return None
        if row.used_at is not None or row.revoked_at is not None:
            if row.revoked_at is None or row.used_at is not None:
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


# --- the tokens -----------------------------------------------------------------------------------------


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
    try:
        with db.engine.begin() as connection:  # Core and statements built once: the grants' hot path
            if previous is not None:
                spent = connection.execute(
                    _SPEND_REFRESH, {"spent_hash": previous.token_hash, "spent_at": now}
                )
                if spent.rowcount != 1:
                    raise _SpentMeanwhile()
            connection.execute(
                _INSERT_ACCESS,
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
                    _INSERT_REFRESH,
                    {
                        "token_hash": sha256(new_refresh),
                        "family_id": family_id,
                        "client_id": client.client_id,
                        "account_id": user.account_id,
                        "sso_session_id": user.sso_session_id,
                        "credentials_version": user.credentials_version,
                        "scope": token.get("scope", ""),
                        "auth_time": user.auth_time or int(now.timestamp()),
                        "issued_at": now,
                        "expires_at": min(
                            now + timedelta(seconds=client.refresh_token_ttl), family_expires_at
                        ),
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
    except _CodeReplayed:
        raise InvalidGrantError() from None
    except _SpentMeanwhile:
        # Another request spent it between our read and this write: that is a replay, and the family ends
        # (after this transaction rolled back: on SQLite a second writer could not start inside it).
        assert previous is not None
        revoke_family(previous.family_id)
        raise InvalidGrantError() from None


class _CodeReplayed(Exception):
    """The code was used a second time while its first exchange was recording its tokens."""


class _SpentMeanwhile(Exception):
    """Two requests spent the same refresh token: the loser rolls back, then ends the family."""


# --- verifying access tokens (userinfo, introspection, IAM's own API) --------------------------------------


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


_key_set_lock = threading.Lock()
_key_set: tuple[float, KeySet] | None = None
KEY_SET_SECONDS = 30.0


def _verification_keys(kid: str | None) -> KeySet:
    """IAM's own published keys, cached briefly; an unknown kid reloads them (a key just rotated in)."""
    global _key_set
    cached = _key_set
    fresh = cached is not None and time.monotonic() - cached[0] < KEY_SET_SECONDS
    if cached is not None and fresh and (kid is None or any(key.kid == kid for key in cached[1].keys)):
        return cached[1]
    with _key_set_lock:
        key_set = KeySet.import_key_set(keys.public_jwks(db))  # type: ignore[arg-type]
        _key_set = (time.monotonic(), key_set)
        return key_set


def forget_cached() -> None:
    global _key_set
    _key_set = None


def verify_access_token(token_string: str) -> AccessRecord | None:
    """The access token if IAM issued it and it still stands: signature by a published key, `at+jwt`,
    this issuer, not expired; a user's token also recorded, not revoked, and its account's credentials
    unchanged. None otherwise (never an exception)."""
    if not token_string or len(token_string) > MAX_TOKEN_LENGTH or token_string.count(".") != 2:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(token_string.split(".")[0] + "=="))
        if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            return None
        token = jwt.decode(token_string, _verification_keys(header.get("kid")), algorithms=ALGORITHMS)
    except (JoseError, ValueError, TypeError, UnicodeDecodeError):
        return None
    claims = dict(token.claims)
    now = time.time()
    if claims.get("iss") != issuer() or not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        return None
    if not claims.get("jti") or not claims.get("client_id") or not claims.get("sub"):
        return None
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


# --- revocation (RFC 7009) and introspection (RFC 7662) ------------------------------------------------


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
        row = session.get(RefreshToken, sha256(token_string))
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
                    insert(_table(AccessToken)).values(
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


# --- the server ------------------------------------------------------------------------------------------


def query_client(client_id: str) -> clients.Client | None:
    return clients.find(db, client_id)


def build_server(app: Flask) -> AuthorizationServer:
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(clients.SUPPORTED_SCOPES))
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_token_generator("default", generate_token)
    server.register_grant(CodeGrant, [S256Challenge(required=True), IdToken(require_nonce=False)])
    server.register_grant(RefreshGrant)
    server.register_grant(ServiceGrant)
    protector = ResourceProtector()
    protector.register_token_validator(BearerValidator())
    server.register_endpoint(UserInfoView(resource_protector=protector))
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    app.extensions[SERVER] = server
    forget_cached()
    return server


def server() -> AuthorizationServer:
    return current_app.extensions[SERVER]  # type: ignore[no-any-return]


def discovery() -> dict[str, Any]:
    """The provider metadata: exactly what is supported, nothing more."""
    base = issuer()
    secret_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oidc/authorize",
        "token_endpoint": f"{base}/oidc/token",
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "jwks_uri": f"{base}/oidc/jwks",
        "end_session_endpoint": f"{base}/oidc/logout",
        "revocation_endpoint": f"{base}/oidc/revoke",
        "introspection_endpoint": f"{base}/oidc/introspect",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(clients.SUPPORTED_GRANTS),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(clients.ID_TOKEN_ALGORITHMS),
        "userinfo_signing_alg_values_supported": [],
        "scopes_supported": list(clients.SUPPORTED_SCOPES),
        "token_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "revocation_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "amr",
            "preferred_username",
            "given_name",
            "family_name",
            "name",
            "locale",
            "email",
            "email_verified",
            FISCAL_NUMBER_CLAIM,
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }


def decode_id_token_hint(hint: str) -> dict[str, Any] | None:
    """The claims of an ID token this provider signed (expired ones too: logout accepts them), else None."""
    if not hint or len(hint) > MAX_TOKEN_LENGTH:
        return None
    try:
        token = jwt.decode(hint, _verification_keys(None), algorithms=ALGORITHMS)
    except (JoseError, ValueError):
        return None
    claims = dict(token.claims)
    return claims if claims.get("iss") == issuer() else None


__all__ = ["User", "build_server", "decode_id_token_hint", "discovery", "server", "verify_access_token"]


def _table(model: type[Any]) -> Table:
    """A model's table, typed as one (the declarative attribute is typed as any FromClause)."""
    table: Table = model.__table__
    return table


def _insert_ignoring_duplicate(model: type[Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the dialect of the database."""
    dialect = postgresql if not db.is_sqlite else sqlite
    return dialect.insert(_table(model)).on_conflict_do_nothing()


# The statements of the grants' hot path, built once (building them per request was a third of a refresh).
_ACCOUNTS = _table(Account)
_REFRESH = _table(RefreshToken)
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
_READ_REFRESH = (
    select(
        *(column for column in _REFRESH.c if column.name != "credentials_version"),
        _REFRESH.c.credentials_version.label("token_credentials_version"),
        *ACCOUNT_COLUMNS,
    )
    .join_from(_REFRESH, _ACCOUNTS, _ACCOUNTS.c.id == _REFRESH.c.account_id)
    .where(_REFRESH.c.token_hash == bindparam("token_hash"))
)
_SPEND_REFRESH = (
    update(_REFRESH)
    .where(
        _REFRESH.c.token_hash == bindparam("spent_hash"),
        _REFRESH.c.used_at.is_(None),
        _REFRESH.c.revoked_at.is_(None),
    )
    .values(used_at=bindparam("spent_at"))
)
_INSERT_ACCESS = insert(_table(AccessToken))
_INSERT_REFRESH = insert(_REFRESH)
