"""The accounts table and the temporary passwords issued for it (D-ACC-2 ... D-ACC-8)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from iam.models import Base


class AccountKind(enum.StrEnum):
    ORDINARY = "ordinary"
    MI = "mi"  # institutional: imported, never self-registered, reset only by a security officer (D-ACC-2)


class AccountState(enum.StrEnum):
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    ACTIVE = "active"
    MUST_CHANGE_PASSWORD = "must_change_password"  # noqa: S105 - a state, not a secret
    DISABLED = "disabled"
    REVOKED = "revoked"


class Role(enum.StrEnum):
    SECURITY_OFFICER = "security_officer"  # may reset MI passwords (D-ACC-2)
    OPS = "ops"


# A codice fiscale holds at most one live account (D-ACC-3): every state but revoked is live.
LIVE_STATES = tuple(s.value for s in AccountState if s is not AccountState.REVOKED)


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        Index(
            "uq_accounts_live_codice_fiscale",
            "codice_fiscale",
            unique=True,
            sqlite_where=text("state != 'revoked'"),
            postgresql_where=text("state != 'revoked'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Null until the confirmation link is used: the username is given at activation (D-ACC-3).
    username: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(16), default=AccountKind.ORDINARY.value)
    state: Mapped[str] = mapped_column(String(32), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)

    codice_fiscale: Mapped[str] = mapped_column(String(16), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    sex: Mapped[str | None] = mapped_column(String(1), nullable=True)
    # Belfiore code of the comune or foreign state of birth, and its name as shown to the user.
    birth_place_code: Mapped[str | None] = mapped_column(String(4), nullable=True)
    birth_place_name: Mapped[str | None] = mapped_column(String(100), nullable=True)

    personal_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    personal_email_verified_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    institutional_email: Mapped[str | None] = mapped_column(String(254), nullable=True)  # read-only (D-ACC-7)
    language: Mapped[str] = mapped_column(String(8), default="it")

    # Kept for the personal-code recovery of D-ENA-5; the answer only as an argon2 hash (case-sensitive).
    security_question: Mapped[str | None] = mapped_column(String(200), nullable=True)
    security_answer_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)

    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Raised whenever every session and token of the account must end (password change, reset, revocation).
    credentials_version: Mapped[int] = mapped_column(Integer, default=1)

    # Brute-force protection (issue 3, item 9).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The revocation rounds of D-REV-1 select on it: recorded at every login (D-ACC-4).
    last_access_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, index=True
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def reference_email(self) -> str | None:
        """The address Istanze OnLine messages go to: the institutional one where it exists (D-ACC-8)."""
        return self.institutional_email or self.personal_email


class TemporaryPassword(Base):
    """A temporary password (D-ACC-6): random, short-lived, usable once; issuing one changes nothing else."""

    __tablename__ = "temporary_passwords"
    # The login and the password change find it by (account, digest), never by trying hashes (issue 11).
    __table_args__ = (Index("ix_temporary_passwords_account_digest", "account_id", "password_hash"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    issued_by: Mapped[str] = mapped_column(String(32))  # self_service | security_officer
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
