"""Tables of the OpenID Connect provider: codes, tokens, SSO sessions, consents and
back-channel logout deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from iam.accounts import models as _accounts  # noqa: F401 - the accounts table their foreign keys name
from iam.clients import models as _clients  # noqa: F401 - and the clients table
from iam.models import Base


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
