"""The operators' side of enablement requests (D-ENA-3, D-ENA-10): find a pending request, identify the
person with a valid document and confirm or reject it (audited), and the list of identifications for ops."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from polis.db import Database
from polis.errors import Forbidden, NotFound, ValidationFailed
from polis.events import Event
from polis.events import outbox as events_outbox
from sqlalchemy import select
from sqlalchemy.orm import Session

from enablement.audit import service as audit
from enablement.audit.service import Origin
from enablement.models import outbox
from enablement.offices import service as offices
from enablement.offices.models import Office
from enablement.personal_codes.models import MUST_CHANGE, PersonalCode
from enablement.requests.models import CONFIRMED, PENDING, EnablementRequest, Identification
from enablement.requests.service import PRODUCER, aware


def _operator_offices(session: Session, operator_id: uuid.UUID) -> list[Office]:
    found = offices.offices_of(session, operator_id)
    if not found:
        raise Forbidden("You are not assigned to any office.")
    return found


def find_pending(
    *, db: Database, operator_id: uuid.UUID, number: str | None = None, codice_fiscale: str | None = None
) -> EnablementRequest:
    """A pending request by number (typed or scanned) or codice fiscale; a plain "not found" otherwise."""
    with db.transaction() as session:
        _operator_offices(session, operator_id)
        query = select(EnablementRequest).where(EnablementRequest.state == PENDING)
        if number:
            query = query.where(EnablementRequest.number == number.strip().upper().strip("*"))
        elif codice_fiscale:
            query = query.where(EnablementRequest.codice_fiscale == codice_fiscale.strip().upper())
        else:
            raise ValidationFailed(fields={"query": ["required"]})
        request = session.scalars(query.order_by(EnablementRequest.created_at.desc())).first()
        if request is None or aware(request.expires_at) <= datetime.now(UTC):
            raise NotFound("No pending request matches.")
        session.expunge(request)
        return request


@dataclass(frozen=True)
class Document:
    type: str
    number: str
    issuer: str
    issued_on: date
    expires_on: date


def identify(
    *,
    db: Database,
    operator_id: uuid.UUID,
    request_id: uuid.UUID,
    office_id: uuid.UUID,
    outcome: str,
    origin: Origin,
    document: Document | None = None,
    form_signed: bool = False,
    reason: str | None = None,
) -> Identification:
    """D-ENA-3: confirm (valid document, signed form) or reject (a reason) a pending request, audited."""
    now = datetime.now(UTC)
    if outcome == CONFIRMED:
        if document is None:
            raise ValidationFailed(fields={"document_type": ["required"]})
        if document.expires_on < now.date():
            raise ValidationFailed(fields={"document_expires_on": ["document_expired"]})
        if document.issued_on > now.date():
            raise ValidationFailed(fields={"document_issued_on": ["date_in_future"]})
        if not form_signed:
            raise ValidationFailed(fields={"form_signed": ["form_not_signed"]})
    elif not reason:
        raise ValidationFailed(fields={"reason": ["required"]})
    with db.transaction() as session:
        office = next((o for o in _operator_offices(session, operator_id) if o.id == office_id), None)
        if office is None:
            raise Forbidden("You do not act for this office.")
        request = session.get(EnablementRequest, request_id, with_for_update=True)
        if request is None or request.state != PENDING or aware(request.expires_at) <= now:
            raise NotFound("No pending request matches.")
        if request.account_id == operator_id:
            raise Forbidden("An operator never confirms their own request.")
        identification = Identification(
            request_id=request.id,
            operator_id=operator_id,
            office_id=office.id,
            outcome=outcome,
            reason=reason,
            document_type=document.type if document else None,
            document_number=document.number if document else None,
            document_issuer=document.issuer if document else None,
            document_issued_on=document.issued_on if document else None,
            document_expires_on=document.expires_on if document else None,
            form_signed=form_signed,
            at=now,
            source_address=origin.source_address,
            http_request_id=origin.request_id,
        )
        session.add(identification)
        request.state, request.closed_at = outcome, now
        audit.record(
            session,
            action=f"identification.{outcome}",
            actor=f"operator:{operator_id}",
            account_id=request.account_id,
            origin=origin,
            details={
                "request": request.number,
                "office": office.code,
                "document_type": identification.document_type,
            },
        )
        row = session.get(PersonalCode, request.account_id, with_for_update=True)
        if outcome == CONFIRMED and row is not None:
            row.state = MUST_CHANGE  # the temporary code works now, for the mandatory change only (D-ENA-4)
            events_outbox.record(
                session,
                Event.new(
                    "enablement.activated",
                    {
                        "account_id": str(request.account_id),
                        "enablement_id": str(request.id),
                        "activated_at": now.isoformat(),
                        "office_name": office.name,
                    },
                    producer=PRODUCER,
                ),
                outbox,
            )
        session.flush()
        session.expunge(identification)
        return identification


def identifications(*, db: Database, limit: int = 200) -> list[dict[str, Any]]:
    """Every confirmation and rejection, newest first, for ops (D-ENA-3)."""
    with db.transaction() as session:
        rows = session.execute(
            select(Identification, EnablementRequest.number, Office.code)
            .join(EnablementRequest, EnablementRequest.id == Identification.request_id)
            .join(Office, Office.id == Identification.office_id)
            .order_by(Identification.at.desc())
            .limit(limit)
        ).all()
        return [
            {
                "request_number": number,
                "request_id": str(i.request_id),
                "office": office_code,
                "operator_id": str(i.operator_id),
                "outcome": i.outcome,
                "reason": i.reason,
                "document_type": i.document_type,
                "document_number": i.document_number,
                "document_issuer": i.document_issuer,
                "document_expires_on": i.document_expires_on.isoformat() if i.document_expires_on else None,
                "at": aware(i.at).isoformat(),
                "source_address": i.source_address,
                "http_request_id": i.http_request_id,
            }
            for i, number, office_code in rows
        ]
