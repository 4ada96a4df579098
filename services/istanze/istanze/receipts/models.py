"""The user's archive (D-IST-3/6): one receipt per submission, kept for good; a withdrawn one is marked."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, deferred, mapped_column

from istanze.models import Base


class Receipt(Base):
    """A receipt and its protocol registration: number, segnatura, time, procedure, SHA-256 of the PDF."""

    __tablename__ = "receipts"
    # D-IST-6: a protocol number is given once in its year, whatever happens to the application.
    __table_args__ = (UniqueConstraint("protocol_year", "protocol_number"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    procedure_code: Mapped[str] = mapped_column(String(64), index=True)
    procedure_version: Mapped[int] = mapped_column(Integer)
    procedure_title: Mapped[str] = mapped_column(String(200))
    protocol_year: Mapped[int] = mapped_column(Integer)
    protocol_number: Mapped[int] = mapped_column(BigInteger)
    segnatura: Mapped[str] = mapped_column(String(200))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))  # read only when downloaded
    # Set when the user withdrew this submission before the deadline ("annullata" in the archive).
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def number_text(self) -> str:
        return f"{self.protocol_number:07d}"
