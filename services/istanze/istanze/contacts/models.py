"""The contact details in force (one row per account) and every change to them, with its time (D-IST-4)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from istanze.models import Base


class ContactDetails(Base):
    __tablename__ = "contact_details"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    mobile_phone: Mapped[str | None] = mapped_column(String(20), nullable=True)  # E.164
    home_phone: Mapped[str | None] = mapped_column(String(20), nullable=True)  # E.164
    address: Mapped[str] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    nation: Mapped[str] = mapped_column(String(64))  # "ITALIA" or the state's official name
    province: Mapped[str | None] = mapped_column(String(2), nullable=True)  # sigla, Italy only
    comune: Mapped[str | None] = mapped_column(String(100), nullable=True)  # official name, Italy only
    comune_code: Mapped[str | None] = mapped_column(String(4), nullable=True)  # codice catastale
    locality: Mapped[str | None] = mapped_column(String(100), nullable=True)  # abroad: the city
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContactChange(Base):
    """One change: what was in force before and what is now, at `changed_at`."""

    __tablename__ = "contact_changes"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
