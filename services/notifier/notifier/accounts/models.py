"""One row per IAM account, as IAM's fact events describe it: whom to write to and in which language."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from notifier.models import Base


class Account(Base):
    __tablename__ = "accounts"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # ordinary | mi
    state: Mapped[str] = mapped_column(String(32))
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(8))
    personal_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    institutional_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def all_addresses(self) -> list[str]:
        """Every registered address, institutional first, without repeats (D-ACC-8: recovery messages)."""
        return list(dict.fromkeys(a for a in (self.institutional_email, self.personal_email) if a))

    def reference_address(self) -> str | None:
        """The institutional address where it exists, else the personal one (D-ACC-8)."""
        return self.institutional_email or self.personal_email
