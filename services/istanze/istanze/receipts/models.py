"""The user's archive (D-IST-3/6): one receipt per submission, kept for good; a withdrawn one is marked."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, deferred, mapped_column

from istanze.models import Base


class Receipt(Base):
    """A receipt and its protocol registration: number, segnatura, time, procedure, SHA-256 of the PDF.

    A submission registers the row first (number, segnatura, time, procedure: the protocol register entry)
    with the receipt pending: no document or fingerprint yet, `pending_since` set and `render_inputs` the
    rest of what the document prints (the applicant's name, the contact details in force at submission).
    Filing the rendered PDF sets `sha256`, `size` and `content` and clears both (applications.completion)."""

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
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None while the receipt is pending
    filename: Mapped[str] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The PDF, read only when downloaded.
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    # While the receipt is pending (registered, not yet rendered and filed): since when, and its inputs.
    pending_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    render_inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Set when the user withdrew this submission before the deadline ("annullata" in the archive).
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def pending(self) -> bool:
        return self.sha256 is None

    @property
    def number_text(self) -> str:
        return f"{self.protocol_number:07d}"
