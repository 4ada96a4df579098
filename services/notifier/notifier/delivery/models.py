"""The deliveries table: one row per email owed, holding the event data as received (sealed fields sealed)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from notifier.models import Base

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
STATES = (QUEUED, SENDING, SENT, FAILED)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # One delivery per event: the idempotency key when an event arrives twice.
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    # The first address (display and filters); `recipients` holds every one, the SMTP envelope's RCPT TO.
    recipient: Mapped[str] = mapped_column(String(254))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    language: Mapped[str] = mapped_column(String(8))
    # The request id that caused the event: the sender's log lines carry it, tying the email to the request.
    correlation_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # The event data as received (secrets still sealed) plus the account's names at the time.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # For queued rows: not before. For sending rows: the claim's lease; past it the sender is presumed dead.
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A fresh token per claim: only the sender holding the current claim may record the outcome.
    claim_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # When the event happened at its producer: the lag metric measures from here.
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
