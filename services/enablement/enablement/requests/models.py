"""An enablement request (D-ENA-2) and the in-person identification that confirms or rejects it (D-ENA-3)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enablement.models import Base

PENDING = "pending"  # waiting for the person at an office (D-ENA-3)
CONFIRMED = "confirmed"  # identified in person: the enablement is active (D-ENA-4)
REJECTED = "rejected"
EXPIRED = "expired"  # not confirmed in time (D-ENA-8)
ENDED = "ended"  # the account was revoked (D-REV-3), or the code regenerated (D-ENA-7) supersedes it
SUPERSEDED = "superseded"

DOCUMENT_TYPES = ("carta_identita", "cie", "passaporto", "patente")


class EnablementRequest(Base):
    __tablename__ = "enablement_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(16), unique=True)  # ENA-XXXX-XXXX, on the form
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    codice_fiscale: Mapped[str] = mapped_column(String(16), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    receipt_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Identification(Base):
    """What the operator recorded, confirmed or rejected: the audit of D-ENA-3, listed for ops."""

    __tablename__ = "identifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enablement_requests.id"), index=True)
    operator_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    office_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offices.id"))
    outcome: Mapped[str] = mapped_column(String(16))  # confirmed | rejected
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    document_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    document_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    document_issuer: Mapped[str | None] = mapped_column(String(200), nullable=True)
    document_issued_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    document_expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    form_signed: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    http_request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
