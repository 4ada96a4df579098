"""The audit_entries table: append-only, one row per security event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from iam.models import Base


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_account_id_occurred_at", "account_id", "occurred_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Dotted names: login.succeeded, login.failed, login.locked, registration.started, password.changed ...
    action: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    # Who did it: "self", "anonymous", "ops:<name>" or "account:<uuid>" (a security officer).
    actor: Mapped[str] = mapped_column(String(80))
    source_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Never a secret: no password, token or answer ever goes here.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
