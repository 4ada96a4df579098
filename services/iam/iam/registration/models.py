"""Registrations in progress (no account until the summary is confirmed) and the confirmation links sent."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from iam.models import Base


class Registration(Base):
    """One registration in progress, found by the hash of the opaque token (`iam_registration` cookie)."""

    __tablename__ = "registrations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(8))
    # The last step completed (1 ... 4); the summary (5) ends it: submitted_at is then set.
    completed_step: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Renewed at every step; an expired registration is gone (its data deleted at the next start).
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    codice_fiscale: Mapped[str] = mapped_column(String(16))
    last_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    first_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    sex: Mapped[str | None] = mapped_column(String(1), nullable=True)
    birth_place_code: Mapped[str | None] = mapped_column(String(4), nullable=True)
    birth_place_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    personal_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    security_question: Mapped[str | None] = mapped_column(String(200), nullable=True)
    security_answer_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)

    @property
    def next_step(self) -> int:
        return 6 if self.submitted_at is not None else self.completed_step + 1


class RegistrationConfirmation(Base):
    """A confirmation link sent to the personal email: signed, expiring, single use; only its hash is kept."""

    __tablename__ = "registration_confirmations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
