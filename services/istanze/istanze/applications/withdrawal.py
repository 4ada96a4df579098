"""Withdrawing a submission ("annulla inoltro", D-IST-3): only inside the window, by the server's clock when
the request arrives (D-IST-6). The application becomes a draft again, to edit and submit anew (a new
protocol number); the withdrawn submission is kept in `withdrawals` with its number, never reused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from polis.events import Event
from polis.events import outbox as events_outbox
from sqlalchemy import select
from sqlalchemy.orm import Session

from istanze.applications.models import DRAFT, PENDING, SUBMITTED, Application, Withdrawal
from istanze.applications.service import NotAllowed, closed_reason
from istanze.models import outbox
from istanze.procedures import service as procedures
from istanze.receipts.service import current_receipt


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite reads back naive


def withdraw(session: Session, *, account_id: uuid.UUID, code: str, arrived_at: datetime) -> Withdrawal:
    """Withdraw the user's submitted application of `code`; NotAllowed when none or the window is closed.

    The receipt stays in the archive marked withdrawn ("annullata"); `istanze.istanza_withdrawn` goes out
    through the outbox in the same transaction (the notifier emails it)."""
    procedure = procedures.published(session, code=code)  # UnknownProcedure
    application = session.scalar(
        select(Application)
        .where(Application.account_id == account_id, Application.procedure_code == code)
        .with_for_update()  # a withdrawal racing a submission of the same application waits for it
    )
    if application is not None and application.state == PENDING:
        raise NotAllowed("receipt_pending")  # registered, its receipt being filed: withdrawable in a moment
    if application is None or application.state != SUBMITTED:
        raise NotAllowed("not_submitted")
    if not procedure.window.is_open(arrived_at):  # after the deadline the application is read-only
        raise closed_reason(procedure, arrived_at)
    assert application.protocol_year is not None and application.protocol_number is not None
    record = Withdrawal(
        application_id=application.id,
        protocol_year=application.protocol_year,
        protocol_number=application.protocol_number,
        segnatura=application.segnatura or "",
        submitted_at=_aware(application.submitted_at or arrived_at),
        withdrawn_at=arrived_at,
    )
    session.add(record)
    receipt = current_receipt(session, application_id=application.id)
    if receipt is not None:
        receipt.withdrawn_at = arrived_at
    events_outbox.record(
        session,
        Event.new(
            "istanze.istanza_withdrawn",
            {
                "account_id": str(account_id),
                "istanza_id": str(application.id),
                "procedure_code": procedure.code,
                "procedure_title": procedure.title_it[:200],
                "protocol_number": f"{application.protocol_number:07d}",
                "withdrawn_at": arrived_at.isoformat(),
            },
            producer="istanze",
        ),
        outbox,
    )
    application.state = DRAFT
    application.submission_key = None
    application.protocol_year = application.protocol_number = None
    application.segnatura = None
    application.submitted_at = None
    application.updated_at = arrived_at
    session.flush()
    return record


def withdrawals_of(session: Session, *, application_id: uuid.UUID) -> list[Withdrawal]:
    """The application's withdrawn submissions, oldest first."""
    return list(
        session.scalars(
            select(Withdrawal)
            .where(Withdrawal.application_id == application_id)
            .order_by(Withdrawal.withdrawn_at)
        )
    )
