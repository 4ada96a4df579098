"""The OpenID Connect provider on Authlib's Flask server: authorization code + PKCE (S256), ID tokens ES256.

Issue 5 grows it: refresh and client-credentials grants register here (`build_server`), keys rotate in
keys.py, clients get an ops API in clients.py; nothing in the endpoints has to change for that.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import InvalidRequestError, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from flask import Flask, current_app
from sqlalchemy import Table, delete, insert

from iam.accounts.models import Account, AccountState
from iam.extensions import db
from iam.oidc import clients, keys
from iam.oidc.models import AccessToken, AuthorizationCode
from iam.oidc.sessions import as_utc

SERVER = "iam.oidc_server"
CODE_TTL = timedelta(minutes=2)
ACCESS_TOKEN_TTL = 900
ID_TOKEN_TTL = 300
ALG = keys.ALG
USABLE_STATES = (AccountState.ACTIVE.value,)


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
    sso_session_id: uuid.UUID | None = None
    auth_time: int | None = None  # when the user typed the password (the SSO session's start)

    @classmethod
    def of(
        cls, account: Account, sso_session_id: uuid.UUID | None = None, auth_time: int | None = None
    ) -> User:
        verified = bool(account.institutional_email) or account.personal_email_verified_at is not None
        return cls(
            account_id=account.id,
            username=account.username,
            first_name=account.first_name,
            last_name=account.last_name,
            email=account.reference_email,  # D-ACC-8: the institutional address where there is one
            email_verified=verified,
            language=account.language,
            credentials_version=account.credentials_version,
            sso_session_id=sso_session_id,
            auth_time=auth_time,
        )

    def get_user_id(self) -> str:
        return self.subject

    @property
    def subject(self) -> str:
        # Stable and opaque: the account id never changes, unlike a username (issue 5 may make it pairwise).
        return str(self.account_id)

    def claims(self, scope: str) -> UserInfo:
        return UserInfo(
            sub=self.subject,
            preferred_username=self.username,
            given_name=self.first_name,
            family_name=self.last_name,
            name=f"{self.first_name} {self.last_name}",
            locale=self.language,
            email=self.email,
            email_verified=self.email_verified,
        ).filter(scope)


def load_user(account_id: uuid.UUID, sso_session_id: uuid.UUID | None = None) -> User | None:
    with db.transaction() as session:
        account = session.get(Account, account_id)
        if account is None or account.state not in USABLE_STATES:
            return None
        return User.of(account, sso_session_id)


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
    """A code or access token: 256 bits from the CSPRNG in one call (Authlib's default draws each of its 48
    characters with its own SystemRandom.choice, about a hundred urandom calls per login)."""
    return secrets.token_urlsafe(32)


def _access_token(*_args: Any, **_kwargs: Any) -> str:
    return new_token()


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def generate_authorization_code(self) -> str:
        return new_token()

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: User = request.user
        data = request.payload.data
        now = datetime.now(UTC)
        with db.transaction() as session:  # a plain INSERT: no ORM unit of work for one new row
            session.execute(
                insert(_table(AuthorizationCode)).values(
                    code_hash=sha256(code),
                    client_id=request.client.get_client_id(),
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

    def query_authorization_code(self, code: str, client: Any) -> Code | None:
        # Taken and deleted in one statement: a code works once even when two requests race (RFC 6749 4.1.2).
        now = datetime.now(UTC)
        if not code or len(code) > 200:
            return None
        codes = _table(AuthorizationCode)  # plain rows: no ORM objects for a row that is gone
        with db.transaction() as session:
            row = session.execute(
                delete(codes).where(codes.c.code_hash == sha256(code)).returning(*codes.c)
            ).one_or_none()
            if row is None or row.client_id != client.get_client_id() or as_utc(row.expires_at) <= now:
                return None
            # The account in the same transaction (one round trip less than authenticate_user's own).
            account = session.get(Account, row.account_id)
            user = (
                User.of(account, row.sso_session_id)
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
        return ALG

    def resolve_client_private_key(self, client: Any) -> Any:
        return keys.active_key(db)[1]

    def get_encode_header(self, client: Any) -> dict[str, str]:
        return {"alg": ALG, "kid": keys.active_key(db)[0], "typ": "JWT"}

    def get_client_claims(self, client: Any) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": issuer(), "aud": [client.get_client_id()], "iat": now, "exp": now + ID_TOKEN_TTL}

    def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
        claims: dict[str, Any] = dict(user.claims(scope))
        if user.sso_session_id is not None:
            claims["sid"] = str(user.sso_session_id)  # for RP-initiated and (issue 5) back-channel logout
        return claims


class Bearer(TokenMixin):
    def __init__(self, row: AccessToken, client: clients.Client | None, user: User | None) -> None:
        self.row, self.client, self.user = row, client, user
        self.scope = row.scope

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.row.client_id)

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((as_utc(self.row.expires_at) - as_utc(self.row.issued_at)).total_seconds())

    def is_expired(self) -> bool:
        return as_utc(self.row.expires_at) <= datetime.now(UTC)

    def is_revoked(self) -> bool:
        # Ended by revocation, or by the account's credentials moving on (password change, revocation).
        return (
            self.row.revoked_at is not None
            or self.user is None
            or self.user.credentials_version != self.row.credentials_version
        )

    def get_user(self) -> User | None:
        return self.user

    def get_client(self) -> clients.Client | None:
        return self.client


class BearerValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Bearer | None:
        if not token_string or len(token_string) > 200:
            return None
        with db.transaction() as session:
            row = session.get(AccessToken, sha256(token_string))
        if row is None:
            return None
        return Bearer(row, clients.find(db, row.client_id), load_user(row.account_id))


class UserInfoView(UserInfoEndpoint):
    def get_issuer(self) -> str:
        return issuer()

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return user.claims(scope)

    def resolve_private_key(self) -> Any:
        return keys.active_key(db)[1]


def query_client(client_id: str) -> clients.Client | None:
    return clients.find(db, client_id)


def save_token(token: dict[str, Any], request: Any) -> None:
    user: User = request.user
    now = datetime.now(UTC)
    with db.transaction() as session:  # a plain INSERT: no ORM unit of work for one new row
        session.execute(
            insert(_table(AccessToken)).values(
                token_hash=sha256(token["access_token"]),
                client_id=request.client.get_client_id(),
                account_id=user.account_id,
                credentials_version=user.credentials_version,
                scope=token.get("scope", ""),
                issued_at=now,
                expires_at=now + timedelta(seconds=int(token.get("expires_in", ACCESS_TOKEN_TTL))),
            )
        )


def build_server(app: Flask) -> AuthorizationServer:
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"authorization_code": ACCESS_TOKEN_TTL})
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(clients.SUPPORTED_SCOPES))
    app.config.setdefault("OAUTH2_ACCESS_TOKEN_GENERATOR", _access_token)
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(CodeGrant, [S256Challenge(required=True), IdToken(require_nonce=False)])
    protector = ResourceProtector()
    protector.register_token_validator(BearerValidator())
    server.register_endpoint(UserInfoView(resource_protector=protector))
    app.extensions[SERVER] = server
    return server


def server() -> AuthorizationServer:
    return current_app.extensions[SERVER]  # type: ignore[no-any-return]


def discovery() -> dict[str, Any]:
    base = issuer()
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oidc/authorize",
        "token_endpoint": f"{base}/oidc/token",
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "jwks_uri": f"{base}/oidc/jwks",
        "end_session_endpoint": f"{base}/oidc/logout",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(clients.SUPPORTED_GRANTS),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALG],
        "scopes_supported": list(clients.SUPPORTED_SCOPES),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
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
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
    }


def decode_id_token_hint(hint: str) -> dict[str, Any] | None:
    """The claims of an ID token this provider signed (expired ones too: logout accepts them), else None."""
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    if not hint or len(hint) > 4096:
        return None
    try:
        key_set = KeySet.import_key_set(keys.public_jwks(db))  # type: ignore[arg-type]
        token = jwt.decode(hint, key_set, algorithms=[ALG])
    except (JoseError, ValueError):
        return None
    claims = dict(token.claims)
    return claims if claims.get("iss") == issuer() else None


__all__ = ["User", "build_server", "decode_id_token_hint", "discovery", "server"]


def _table(model: type[Any]) -> Table:
    """A model's table, typed as one (the declarative attribute is typed as any FromClause)."""
    table: Table = model.__table__
    return table
