"""Tables of sign-in: SSO sessions, the failure counters of unknown usernames and the unlock links."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from iam.accounts import models as _accounts  # noqa: F401 - the accounts table their foreign keys name
from iam.models import Base


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
