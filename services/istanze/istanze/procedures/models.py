"""Procedures, versioned: each change is a new version; the published one is what users see (D-IST-1)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from istanze.models import Base
from istanze.procedures.window import Window

DRAFT = "draft"
PUBLISHED = "published"
RETIRED = "retired"


class Procedure(Base):
    __tablename__ = "procedures"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    title_it: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    description_it: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    staff_categories: Mapped[list[str]] = mapped_column(JSON)
    # Wall-clock bounds in `time_zone` (naive on purpose: the zone applies at check time, see window.py).
    opens_local: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    closes_local: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    time_zone: Mapped[str] = mapped_column(String(64))
    form: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def window(self) -> Window:
        return Window(self.opens_local, self.closes_local, self.time_zone)
