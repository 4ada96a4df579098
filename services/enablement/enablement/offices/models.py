"""Offices and the assignment of operators (IAM accounts with the operator role) to them (D-ENA-10)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enablement.models import Base

SCHOOL = "school"
AUTHORISED = "authorised_office"
KINDS = (SCHOOL, AUTHORISED)


class Office(Base):
    __tablename__ = "offices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # The codice meccanografico of a school, or the code given to an authorised office.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OperatorAssignment(Base):
    __tablename__ = "operator_assignments"
    __table_args__ = (UniqueConstraint("operator_id", "office_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    operator_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)  # the operator's IAM account id
    office_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offices.id"))
    assigned_by: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
