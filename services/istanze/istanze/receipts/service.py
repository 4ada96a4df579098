"""Filing receipts in the user's archive and reading them back (D-IST-3/6); no Flask here."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from istanze.receipts.models import Receipt
from istanze.receipts.render import ReceiptData, render


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite reads back naive


def filename_for(year: int, number: int) -> str:
    """The receipt's file name (the contracts' attachment pattern: letters, digits, '.', '_', '-')."""
    return f"ricevuta-{year}-{number:07d}.pdf"


def file_receipt(
    session: Session,
    *,
    application_id: uuid.UUID,
    protocol_year: int,
    protocol_number: int,
    data: ReceiptData,
) -> Receipt:
    """Render the receipt, record its SHA-256 with the protocol number and file it in the archive."""
    content = render(data)
    receipt = Receipt(
        application_id=application_id,
        account_id=uuid.UUID(data.account_id),
        procedure_code=data.procedure_code,
        procedure_version=data.procedure_version,
        procedure_title=data.procedure_title[:200],
        protocol_year=protocol_year,
        protocol_number=protocol_number,
        segnatura=data.segnatura,
        registered_at=data.registered_at,
        sha256=hashlib.sha256(content).hexdigest(),
        filename=filename_for(protocol_year, protocol_number),
        size=len(content),
        content=content,
    )
    session.add(receipt)
    session.flush()
    return receipt


def archive_of(session: Session, *, account_id: uuid.UUID) -> list[Receipt]:
    """The user's archive: every receipt, withdrawn ones included (marked by withdrawn_at), newest first."""
    return list(
        session.scalars(
            select(Receipt)
            .where(Receipt.account_id == account_id)
            .order_by(Receipt.registered_at.desc(), Receipt.protocol_number.desc())
        )
    )


def receipt_of(session: Session, *, account_id: uuid.UUID, receipt_id: uuid.UUID) -> Receipt | None:
    """One receipt of the user's with its PDF loaded; None when it is not theirs or does not exist."""
    return session.scalar(
        select(Receipt)
        .options(undefer(Receipt.content))
        .where(Receipt.id == receipt_id, Receipt.account_id == account_id)
    )


def current_receipt(session: Session, *, application_id: uuid.UUID) -> Receipt | None:
    """The receipt of the application's submission in force (not withdrawn)."""
    return session.scalar(
        select(Receipt).where(Receipt.application_id == application_id, Receipt.withdrawn_at.is_(None))
    )


def receipt_json(receipt: Receipt) -> dict[str, object]:
    """The archive entry as the API and the pages show it ("annullata" when withdrawn)."""
    return {
        "id": str(receipt.id),
        "application_id": str(receipt.application_id),
        "procedure_code": receipt.procedure_code,
        "procedure_title": receipt.procedure_title,
        "protocol_number": receipt.number_text,
        "protocol_year": receipt.protocol_year,
        "segnatura": receipt.segnatura,
        "registered_at": aware(receipt.registered_at).isoformat(),
        "sha256": receipt.sha256,
        "filename": receipt.filename,
        "size": receipt.size,
        "state": "annullata" if receipt.withdrawn_at else "inoltrata",
        "withdrawn_at": aware(receipt.withdrawn_at).isoformat() if receipt.withdrawn_at else None,
    }
