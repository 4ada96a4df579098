"""Filing receipts in the user's archive and reading them back (D-IST-3/6); no Flask here."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from istanze.receipts.models import Receipt
from istanze.receipts.render import ReceiptData, render


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite reads back naive


def filename_for(year: int, number: int) -> str:
    """The receipt's file name (the contracts' attachment pattern: letters, digits, '.', '_', '-')."""
    return f"ricevuta-{year}-{number:07d}.pdf"


# The columns register_receipt_values gives (a pending receipt's row).
RECEIPT_COLUMNS = (
    "id",
    "application_id",
    "account_id",
    "procedure_code",
    "procedure_version",
    "procedure_title",
    "protocol_year",
    "protocol_number",
    "segnatura",
    "registered_at",
    "filename",
    "pending_since",
    "render_inputs",
)


def register_receipt_values(
    *,
    application_id: uuid.UUID,
    account_id: uuid.UUID,
    procedure_code: str,
    procedure_version: int,
    procedure_title: str,
    protocol_year: int,
    protocol_number: int,
    segnatura: str,
    registered_at: datetime,
    render_inputs: dict[str, Any],
) -> dict[str, Any]:
    """The columns of a submission's protocol register row with its receipt pending (no document, no
    SHA-256 yet), its id included, for an INSERT.

    `render_inputs`: what the document prints besides the row, the application and its procedure's
    version (applicant, contacts), kept so that anyone can render it later (the worker's sweep)."""
    return {
        "id": uuid.uuid4(),
        "application_id": application_id,
        "account_id": account_id,
        "procedure_code": procedure_code,
        "procedure_version": procedure_version,
        "procedure_title": procedure_title[:200],
        "protocol_year": protocol_year,
        "protocol_number": protocol_number,
        "segnatura": segnatura,
        "registered_at": registered_at,
        "filename": filename_for(protocol_year, protocol_number),
        "pending_since": registered_at,
        "render_inputs": render_inputs,
    }


def render_receipt(data: ReceiptData) -> tuple[bytes, str]:
    """The PDF/A document and its SHA-256 (hex); no database, no lock: runs outside any transaction."""
    content = render(data)
    return content, hashlib.sha256(content).hexdigest()


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
    """The receipt of the application's submission in force (not withdrawn; perhaps still pending)."""
    return session.scalar(
        select(Receipt).where(Receipt.application_id == application_id, Receipt.withdrawn_at.is_(None))
    )


def receipt_json(receipt: Receipt) -> dict[str, object]:
    """The archive entry as the API and the pages show it ("annullata" when withdrawn, "in_preparazione"
    while the document is being rendered and filed: no sha256 and no size yet)."""
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
        "state": "annullata"
        if receipt.withdrawn_at
        else ("in_preparazione" if receipt.sha256 is None else "inoltrata"),
        "withdrawn_at": aware(receipt.withdrawn_at).isoformat() if receipt.withdrawn_at else None,
    }
