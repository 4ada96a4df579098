"""Submitting a draft (D-IST-2/3/6): the personal code checked by enablement, the window by the server's
clock at the request's arrival, a protocol number in the same transaction, once per click."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from polis.events import Event
from polis.events import outbox as events_outbox
from sqlalchemy import select
from sqlalchemy.orm import Session

from istanze.applications.models import DRAFT, SUBMITTED, Application
from istanze.applications.schools import SCHOOLS
from istanze.applications.service import NotAllowed, SectionInvalid, category_of, closed_reason
from istanze.contacts.service import contacts_of, receipt_lines
from istanze.forms.validation import validate_section
from istanze.models import outbox
from istanze.procedures import service as procedures
from istanze.protocol.service import next_number
from istanze.receipts.render import ReceiptData
from istanze.receipts.service import file_receipt

PRODUCER = "istanze"

# (account_id, personal code) -> enablement.check_personal_code's reply; raises polis.rpc.RpcUnavailable.
CodeChecker = Callable[[uuid.UUID, str], Mapping[str, Any]]


class CodeRefused(PermissionError):
    """The personal code was not accepted: `status` is wrong, locked, not_enabled or must_change."""

    def __init__(self, status: str, retry_after: int | None = None) -> None:
        super().__init__(status)
        self.status, self.retry_after = status, retry_after


def submit(
    session: Session,
    *,
    account_id: uuid.UUID,
    code: str,
    personal_code: str,
    key: str,
    check_code: CodeChecker,
    arrived_at: datetime,
    administration: str,
    aoo: str,
    register: str,
    applicant: str | None = None,
) -> Application:
    """Submit the user's draft of `code`; the same `key` again answers the same submission (double click).

    In one transaction: the protocol number, the receipt (PDF/A, its SHA-256 recorded with the number,
    filed in the archive) and the `istanze.istanza_submitted` event with the receipt attached (outbox).
    `applicant` is the user's name for the receipt when the caller knows it (the token's claims)."""
    procedure = procedures.published(session, code=code)
    draft = session.scalar(
        select(Application)
        .where(Application.account_id == account_id, Application.procedure_code == code)
        .with_for_update()  # two clicks racing on PostgreSQL: the second waits, then sees the first's result
    )
    if draft is None:
        raise NotAllowed("no_draft")
    if draft.state == SUBMITTED and draft.submission_key == key:
        return draft  # the same click again: no second number
    if draft.state != DRAFT:
        raise NotAllowed("not_a_draft")
    if not procedure.window.is_open(arrived_at):  # D-IST-6: the server's clock when the request arrived
        raise closed_reason(procedure, arrived_at)
    if category_of(session, account_id=account_id) not in procedure.staff_categories:
        raise NotAllowed("not_your_category")  # D-IST-6: a category changed after the draft was saved
    for section in procedure.form["sections"]:
        _, errors = validate_section(
            procedure.form, section["id"], draft.answers.get(section["id"], {}), schools=SCHOOLS
        )
        if errors:
            raise SectionInvalid({f"{section['id']}.{name}": error for name, error in errors.items()})
    reply = check_code(account_id, personal_code)  # D-IST-2: only enabled accounts, enablement's throttling
    if not reply.get("valid"):
        raise CodeRefused(str(reply.get("status", "wrong")), reply.get("retry_after"))
    number = next_number(session, at=arrived_at)
    draft.state = SUBMITTED
    draft.submission_key = key
    draft.protocol_year = number.year
    draft.protocol_number = number.number
    draft.segnatura = number.segnatura(administration=administration, aoo=aoo, register=register)
    draft.submitted_at = arrived_at
    draft.updated_at = arrived_at
    receipt = file_receipt(
        session,
        application_id=draft.id,
        protocol_year=number.year,
        protocol_number=number.number,
        data=ReceiptData(
            procedure_code=procedure.code,
            procedure_title=procedure.title_it,
            procedure_version=procedure.version,
            form=procedure.form,
            answers=draft.answers,
            protocol_number=number.text,
            segnatura=draft.segnatura,
            registered_at=arrived_at,
            account_id=str(account_id),
            applicant=applicant,
            contacts=receipt_lines(contacts_of(session, account_id=account_id)),
            schools=SCHOOLS,
        ),
    )
    events_outbox.record(
        session,
        Event.new(
            "istanze.istanza_submitted",
            {
                "account_id": str(account_id),
                "istanza_id": str(draft.id),
                "procedure_code": procedure.code,
                "procedure_title": procedure.title_it[:200],
                "protocol_number": number.text,
                "submitted_at": arrived_at.isoformat(),
                # The contract's attachment (not sealed: the receipt is the user's own document).
                "receipt": {
                    "filename": receipt.filename,
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(receipt.content).decode("ascii"),
                },
            },
            producer=PRODUCER,
        ),
        outbox,
    )
    session.flush()
    return draft
