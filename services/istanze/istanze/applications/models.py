"""The declared staff category (D-IST-6) and applications, one per user per procedure (D-IST-2, D-IST-6)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from istanze.models import Base

DRAFT = "bozza"
SUBMITTED = "inoltrata"
# Registered (protocol number given, D-IST-3) with the receipt still being rendered and filed: a short step
# of every submission, longer only after a crash until the worker's sweep completes it.
PENDING = "protocollata"


class StaffProfile(Base):
    __tablename__ = "staff_profiles"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    staff_category: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("account_id", "procedure_code"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    procedure_code: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set on submission (D-IST-3/6): the click's idempotency key, the protocol number and its segnatura.
    submission_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    protocol_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    protocol_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    segnatura: Mapped[str | None] = mapped_column(String(200), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Withdrawal(Base):
    """A submission the user withdrew before the deadline (D-IST-3): its protocol number stays on record."""

    __tablename__ = "withdrawals"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    protocol_year: Mapped[int] = mapped_column(Integer)
    protocol_number: Mapped[int] = mapped_column(BigInteger)
    segnatura: Mapped[str] = mapped_column(String(200))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
