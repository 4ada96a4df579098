"""One personal code per account, only as an argon2id hash, with its state and its wrong-code counter."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enablement.models import Base

# The code exists but the person was not identified in an office yet (D-ENA-2, D-ENA-7): it does not work.
AWAITING_IDENTIFICATION = "awaiting_identification"
# Identified; the temporary code is still in place and must be replaced first (D-ENA-4).
MUST_CHANGE = "must_change"
ACTIVE = "active"
# The enablement ended (account revoked, D-REV-3): no code works any more.
ENDED = "ended"


class PersonalCode(Base):
    __tablename__ = "personal_codes"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    # The hash of the temporary code it started from: the user's own code may never equal it (D-ENA-9).
    temporary_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    state: Mapped[str] = mapped_column(String(32))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    recovery_failures: Mapped[int] = mapped_column(Integer, default=0)
    recovery_locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
