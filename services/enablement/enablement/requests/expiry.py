"""What happens to enablement requests with time and revocation: the expiry reminder and the expiry
(D-ENA-8, run by the worker), and the end of an enablement when its account is revoked (D-REV-3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from polis.db import Database
from polis.events import Event
from polis.events import outbox as events_outbox
from sqlalchemy import select
from sqlalchemy.orm import Session

from enablement.audit import service as audit
from enablement.models import outbox
from enablement.personal_codes.models import AWAITING_IDENTIFICATION, ENDED, PersonalCode
from enablement.requests.models import CONFIRMED, EXPIRED, PENDING, EnablementRequest
from enablement.requests.models import ENDED as REQUEST_ENDED
from enablement.requests.service import PRODUCER, aware, current_request, ended_event


def remind_due(*, db: Database, reminder_before: timedelta, now: datetime | None = None) -> int:
    """D-ENA-8 (run by the worker): one reminder email for each pending request that expires within
    `reminder_before` (default 7 days)."""
    now = now or datetime.now(UTC)
    with db.transaction() as session:
        due = list(
            session.scalars(
                select(EnablementRequest)
                .where(
                    EnablementRequest.state == PENDING,
                    EnablementRequest.reminded_at.is_(None),
                    EnablementRequest.expires_at > now,
                    EnablementRequest.expires_at <= now + reminder_before,
                )
                .with_for_update(skip_locked=True)
            )
        )
        for request in due:
            request.reminded_at = now
            events_outbox.record(
                session,
                Event.new(
                    "enablement.expiry_reminder",
                    {
                        "account_id": str(request.account_id),
                        "enablement_id": str(request.id),
                        "request_number": request.number,
                        "expires_at": aware(request.expires_at).isoformat(),
                    },
                    producer=PRODUCER,
                ),
                outbox,
            )
        return len(due)


def expire_due(*, db: Database, now: datetime | None = None) -> int:
    """D-ENA-8 (run by the worker): pending requests past their period expire; the user may start again."""
    now = now or datetime.now(UTC)
    with db.transaction() as session:
        due = list(
            session.scalars(
                select(EnablementRequest)
                .where(EnablementRequest.state == PENDING, EnablementRequest.expires_at <= now)
                .with_for_update(skip_locked=True)
            )
        )
        for request in due:
            request.state, request.closed_at = EXPIRED, now
            row = session.get(PersonalCode, request.account_id)
            if row is not None and row.state == AWAITING_IDENTIFICATION:
                row.state = ENDED
            audit.record(
                session,
                action="request.expired",
                actor="system",
                account_id=request.account_id,
                details={"number": request.number},
            )
        return len(due)


def end_for_account(session: Session, account_id: uuid.UUID, *, reason: str) -> None:
    """D-REV-3: the account was revoked; its enablement ends and no code works any more (consumer session)."""
    now = datetime.now(UTC)
    row = session.get(PersonalCode, account_id, with_for_update=True)
    if row is not None:
        row.state = ENDED
    request = current_request(session, account_id)
    if request is not None and request.state in (PENDING, CONFIRMED):
        request.state, request.closed_at = REQUEST_ENDED, now
        events_outbox.record(session, ended_event(account_id, request.id, reason, now), outbox)
        audit.record(
            session,
            action="enablement.ended",
            actor="system",
            account_id=account_id,
            details={"reason": reason},
        )
