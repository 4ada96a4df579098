"""Completing a submission (D-IST-3): its receipt rendered outside any lock or transaction, then filed in one
short transaction with its SHA-256 on the protocol register row, the `istanze.istanza_submitted` event (the
email, through the outbox) and the state "Inoltrata".

Filing is idempotent: the row is updated only while it is still pending, so the request that registered
the submission and the worker's sweep (a crash between the two steps) may both try, and exactly one files
the receipt and records the event; the other changes nothing. No Flask here."""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from polis.db import Database
from polis.events import Event, contracts
from polis.events import outbox as events_outbox
from sqlalchemy import (
    DateTime,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Uuid,
    bindparam,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from istanze.applications.models import PENDING, SUBMITTED, Application
from istanze.applications.schools import SCHOOLS
from istanze.models import outbox
from istanze.procedures.models import Procedure
from istanze.receipts.models import Receipt
from istanze.receipts.render import ReceiptData
from istanze.receipts.service import aware, render_receipt

PRODUCER = "istanze"
log = logging.getLogger("istanze.receipts")


def build_receipt_data(
    procedure: Procedure,
    *,
    answers: Mapping[str, Any],
    number_text: str,
    segnatura: str,
    registered_at: datetime,
    account_id: str,
    inputs: Mapping[str, Any],
) -> ReceiptData:
    """What the receipt prints: the procedure's version, the answers, the registration, `inputs` (the
    applicant's name and the contact details kept at registration, `receipt_inputs`)."""
    return ReceiptData(
        procedure_code=procedure.code,
        procedure_title=procedure.title_it,
        procedure_version=procedure.version,
        form=procedure.form,
        answers=answers,
        protocol_number=number_text,
        segnatura=segnatura,
        registered_at=registered_at,
        account_id=account_id,
        applicant=inputs.get("applicant"),
        contacts=tuple((str(label), str(value)) for label, value in inputs.get("contacts", ())),
        schools=SCHOOLS,
    )


def receipt_data(session: Session, receipt: Receipt) -> ReceiptData:
    """What a pending receipt prints, rebuilt from its register row, the application's answers (frozen
    while it is not a draft), the procedure's version and the inputs kept at registration."""
    application = session.get(Application, receipt.application_id)
    procedure = session.scalar(
        select(Procedure).where(
            Procedure.code == receipt.procedure_code, Procedure.version == receipt.procedure_version
        )
    )
    if application is None or procedure is None:
        raise LookupError(f"receipt {receipt.id}: its application or procedure version is gone")
    return build_receipt_data(
        procedure,
        answers=application.answers,
        number_text=receipt.number_text,
        segnatura=receipt.segnatura,
        registered_at=aware(receipt.registered_at),
        account_id=str(receipt.account_id),
        inputs=receipt.render_inputs or {},
    )


def _submitted_event(row: Any, content: bytes) -> Event:
    """istanze.istanza_submitted for a register row (its columns as attributes) and its rendered receipt."""
    return Event.new(
        "istanze.istanza_submitted",
        {
            "account_id": str(row.account_id),
            "istanza_id": str(row.application_id),
            "procedure_code": row.procedure_code,
            "procedure_title": row.procedure_title[:200],
            "protocol_number": f"{row.protocol_number:07d}",
            "submitted_at": aware(row.registered_at).isoformat(),
            # The contract's attachment (not sealed: the receipt is the user's own document).
            "receipt": {
                "filename": row.filename,
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(content).decode("ascii"),
            },
        },
        producer=PRODUCER,
    )


def _filing(receipt_id: uuid.UUID, content: bytes, digest: str) -> Any:
    """The UPDATE that files a receipt while it is still pending: only one filer wins."""
    return (
        update(Receipt)
        .where(Receipt.id == receipt_id, Receipt.sha256.is_(None))
        .values(sha256=digest, size=len(content), content=content, pending_since=None, render_inputs=None)
    )


def file_rendered(db: Database, *, receipt_id: uuid.UUID, content: bytes, digest: str) -> bool:
    """File a rendered receipt: True when this call filed it, False when it was no longer pending."""
    with db.transaction() as session:
        row = session.execute(
            _filing(receipt_id, content, digest)
            .returning(
                Receipt.application_id,
                Receipt.account_id,
                Receipt.procedure_code,
                Receipt.procedure_title,
                Receipt.protocol_number,
                Receipt.registered_at,
                Receipt.filename,
            )
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            return False
        session.execute(
            update(Application)
            .where(Application.id == row.application_id, Application.state == PENDING)
            .values(state=SUBMITTED)
            .execution_options(synchronize_session=False)
        )
        events_outbox.record(session, _submitted_event(row, content), outbox)
    return True


_receipts, _applications = cast(Table, Receipt.__table__), cast(Table, Application.__table__)
# file_registered's statement, built once (issue 15, P6): the filing UPDATE, the state's UPDATE and the outbox
# row's INSERT ... SELECT FROM the filing's RETURNING, so no row is written unless the receipt was pending.
_FILED = (
    update(_receipts)
    .where(_receipts.c.id == bindparam("f_receipt_id", type_=Uuid()), _receipts.c.sha256.is_(None))
    .values(
        sha256=bindparam("f_sha256", type_=String()),
        size=bindparam("f_size", type_=Integer()),
        content=bindparam("f_content", type_=LargeBinary()),
        pending_since=None,
        render_inputs=None,
    )
    .returning(_receipts.c.application_id)
    .cte("filed")
)
_SUBMITTED = (
    update(_applications)
    .where(
        _applications.c.id == bindparam("f_application_id", type_=Uuid()),
        _applications.c.state == PENDING,
        _applications.c.id.in_(select(_FILED.c.application_id)),
    )
    .values(state=SUBMITTED)
    .returning(_applications.c.id)
    .cte("submitted")
)
_FILE_REGISTERED = (
    insert(outbox)
    .from_select(
        ["event_id", "event_type", "payload", "created_at", "attempts"],
        select(
            bindparam("o_event_id", type_=String()),
            bindparam("o_event_type", type_=String()),
            bindparam("o_payload", type_=Text()),
            bindparam("o_created_at", type_=DateTime(timezone=True)),
            literal(0, Integer),
        ).select_from(_FILED),
    )
    .add_cte(_SUBMITTED)
)


def file_registered(db: Database, *, registered: Receipt, content: bytes, digest: str) -> bool:
    """file_rendered for the caller that registered the row and so knows its columns (the submission): on
    PostgreSQL one statement outside a transaction (atomic by itself) instead of three in one: the event
    built and validated first, then the receipt filed, the state "inoltrata" and the outbox row written by
    one INSERT ... SELECT FROM the filing UPDATE's RETURNING (no row when it was no longer pending)."""
    if db.is_sqlite:
        return file_rendered(db, receipt_id=registered.id, content=content, digest=digest)
    event = _submitted_event(registered, content)
    contracts.validate(event)  # as polis.events.outbox.record: a violation raises before anything is written
    params = {
        "f_receipt_id": registered.id,
        "f_sha256": digest,
        "f_size": len(content),
        "f_content": content,
        "f_application_id": registered.application_id,
        "o_event_id": event.id,
        "o_event_type": event.type,
        "o_payload": event.to_json().decode(),
        "o_created_at": datetime.now(UTC),
    }
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return bool(connection.execute(_FILE_REGISTERED, params).rowcount)


def complete(
    db: Database, *, receipt_id: uuid.UUID, data: ReceiptData, registered: Receipt | None = None
) -> tuple[bool, str, int]:
    """Render (no lock held) and file the receipt: whether this call filed it, its SHA-256 and size.
    `registered`: the register row as the caller inserted it (the submission): the one-statement filing."""
    content, digest = render_receipt(data)
    if registered is not None:
        filed = file_registered(db, registered=registered, content=content, digest=digest)
    else:
        filed = file_rendered(db, receipt_id=receipt_id, content=content, digest=digest)
    return filed, digest, len(content)


def pending_receipts(db: Database, *, registered_before: datetime, limit: int = 100) -> list[uuid.UUID]:
    """Receipts still pending that were registered before `registered_before`, oldest first."""
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Receipt.id)
                .where(Receipt.pending_since < registered_before)
                .order_by(Receipt.pending_since)
                .limit(limit)
            )
        )


def sweep(db: Database, *, registered_before: datetime, limit: int = 100) -> int:
    """Complete the submissions whose receipt is still pending since before `registered_before` (their
    request died between registering and filing); the number this call filed."""
    filed = 0
    for receipt_id in pending_receipts(db, registered_before=registered_before, limit=limit):
        try:
            with db.transaction() as session:
                receipt = session.get(Receipt, receipt_id)
                if receipt is None or receipt.sha256 is not None:
                    continue
                data = receipt_data(session, receipt)
            done, _, _ = complete(db, receipt_id=receipt_id, data=data)
        except Exception:  # one receipt that cannot be completed must not stop the others
            log.exception("pending receipt not completed", extra={"receipt_id": str(receipt_id)})
            continue
        if done:
            filed += 1
            log.info("pending receipt completed by the sweep", extra={"receipt_id": str(receipt_id)})
    return filed


def receipt_inputs(applicant: str | None, contacts: Any) -> dict[str, Any]:
    """The render inputs kept on a pending register row (JSON: lists, not tuples)."""
    return {"applicant": applicant, "contacts": [[str(label), str(value)] for label, value in contacts]}
