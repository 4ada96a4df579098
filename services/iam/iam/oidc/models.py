"""Tables of the OpenID Connect provider: clients, signing keys, codes, tokens, SSO sessions, consents and
back-channel logout deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from iam.accounts import models as _accounts  # noqa: F401 - the accounts table their foreign keys name
from iam.models import Base


class OidcClient(Base):
    """A registered relying party: the portal, the partner services, service-to-service callers."""

    __tablename__ = "oidc_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # A hash of the secret (clients.hash_client_secret); null for a public client, which must use PKCE.
    secret_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # After a rotation the previous secret keeps working until previous_secret_expires_at (a grace period
    # for the partner to deploy the new one); secret_rotated_at says when the current one was set.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    secret_rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)  # compared exactly
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    trusted: Mapped[bool] = mapped_column(Boolean, default=True)  # first party: no consent screen
    # Lifetimes in seconds: an access token; one refresh token (each use rotates it); a refresh family,
    # counted from the login that started it (rotation never extends it).
    access_token_ttl: Mapped[int] = mapped_column(Integer, default=900)
    refresh_token_ttl: Mapped[int] = mapped_column(Integer, default=8 * 3600)
    refresh_family_ttl: Mapped[int] = mapped_column(Integer, default=30 * 24 * 3600)
    id_token_alg: Mapped[str] = mapped_column(String(16), default="ES256")  # ES256 or RS256
    # The resource servers (`aud` of the JWT access tokens), e.g. "urn:polis:istanze".
    audiences: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Roles carried by client-credentials tokens (a service acting for itself), e.g. ["ops"].
    service_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    # OpenID Connect Back-Channel Logout 1.0: where IAM posts a logout token when a session ends.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SigningKey(Base):
    """A token signing key (ES256 or RS256) through its life: published in the JWKS from created_at, signs
    from signs_from (later, so every verifier has seen it first), stops signing at retired_at (when its
    successor starts), and leaves the JWKS at published_until (once the last token it signed expired)."""

    __tablename__ = "oidc_signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    # The private JWK, encrypted with the key-encryption key (keys.py seals and unseals it).
    private_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signs_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    published_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuthorizationCode(Base):
    """A one-time code of the authorization code flow, stored hashed, bound to client, redirect and PKCE."""

    __tablename__ = "oidc_authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_clients.client_id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    sso_session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(255), nullable=True)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    auth_time: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Spent, not deleted: a second use revokes what the first issued (RFC 6749 4.1.2; iam.oidc.codes).
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    issued_jti: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issued_family_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class AccessToken(Base):
    """A JWT access token IAM issued (RFC 9068), by its `jti`: what revocation, introspection and userinfo
    check beyond the signature. Ends with the account's credentials, its refresh family, or a revocation."""

    __tablename__ = "oidc_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_clients.client_id"))
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), nullable=True, index=True)
    credentials_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    refresh_family_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    # The SSO session it was issued in: a logout ends it even when it came without a refresh token.
    sso_session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RefreshToken(Base):
    """A refresh token, stored hashed. Each use rotates it: the used one is marked, a new one of the same
    family is issued; presenting a used one again revokes the whole family (OAuth 2.0 Security BCP 4.14)."""

    __tablename__ = "oidc_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_clients.client_id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    sso_session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    credentials_version: Mapped[int] = mapped_column(Integer)
    scope: Mapped[str] = mapped_column(Text)
    auth_time: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    family_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SsoSession(Base):
    """IAM's own session (cookie iam_sso): the cookie holds a random token, the row only its hash."""

    __tablename__ = "oidc_sso_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)  # the `sid` claim
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    # The session ends when the account's credentials_version moves on (password change, reset, revocation).
    credentials_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # absolute timeout
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    source_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)


class LoginThrottle(Base):
    """Failure counters of usernames that match no account: they lock exactly like a real account does."""

    __tablename__ = "oidc_login_throttles"

    username_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the lower-cased name
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # When an unlock link would have been sent (none is: there is no mailbox), so the name's answers at
    # the ceiling follow the same one-per-lock-period rhythm as an account's (issue 11 item 5).
    unlock_mailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class UnlockLink(Base):
    """A single-use link, emailed to every address of an account locked at the ceiling of consecutive
    failures, that lifts the lock (issue 11 item 5). Only the token's hash is stored. No foreign key: a
    name that matches no account rehearses the same insert with a random id, rolled back (uniform work)."""

    __tablename__ = "oidc_unlock_links"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the signed token
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SessionClient(Base):
    """A client that received tokens in an SSO session: who gets a back-channel logout when it ends."""

    __tablename__ = "oidc_session_clients"

    sso_session_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_clients.client_id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Consent(Base):
    """The scopes an account granted to a client that is not first party (asked once, until widened)."""

    __tablename__ = "oidc_consents"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_clients.client_id"), primary_key=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LogoutDelivery(Base):
    """A back-channel logout token owed to a client, written in the transaction that ended the session and
    delivered by IAM's worker with retries (an outbox of HTTP calls: a session end is never forgotten)."""

    __tablename__ = "oidc_logout_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_clients.client_id"))
    sso_session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    abandoned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
