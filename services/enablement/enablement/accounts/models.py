"""One row per IAM account as IAM's facts describe it: the personal data the adhesion form shows (D-ENA-2)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enablement.models import Base


class Account(Base):
    __tablename__ = "accounts"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(8))
    personal_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    institutional_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def reference_address(self) -> str | None:
        """The institutional address where it exists, else the personal one (D-ACC-8)."""
        return self.institutional_email or self.personal_email
