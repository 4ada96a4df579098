"""Recording audit entries inside the caller's transaction, so the trail and the change commit together."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from polis.db import Database
from sqlalchemy import select
from sqlalchemy.orm import Session

from iam.audit.models import AuditEntry


@dataclass(frozen=True)
class Origin:
    """Where a request came from: filled by the views from the request, passed down to service functions."""

    source_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


def record(
    session: Session,
    *,
    action: str,
    origin: Origin,
    account_id: uuid.UUID | None = None,
    actor: str = "self",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit entry to the session; it commits with the change it describes."""
    entry = new_entry(action=action, origin=origin, account_id=account_id, actor=actor, details=details)
    session.add(entry)
    return entry


def new_entry(
    *,
    action: str,
    origin: Origin,
    account_id: uuid.UUID | None = None,
    actor: str = "self",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """The entry `record` adds, with its id, for a caller that writes it with a plain INSERT in its own
    transaction (the login, issue 18): `row(entry)` gives the INSERT's values."""
    return AuditEntry(
        id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        action=action,
        account_id=account_id,
        actor=actor,
        source_address=origin.source_address,
        user_agent=(origin.user_agent or "")[:300] or None,
        request_id=origin.request_id,
        details=details or {},
    )


def row(entry: AuditEntry) -> dict[str, Any]:
    """An entry's column values, for `insert(AuditEntry.__table__)`."""
    return {prop.columns[0].key: getattr(entry, prop.key) for prop in AuditEntry.__mapper__.column_attrs}


def find_entries(*, db: Database, **filters: Any) -> tuple[list[AuditEntry], int | None]:
    """One page of the trail in a transaction of its own (the ops query API); filters as for `query`."""
    with db.transaction() as session:
        return query(session, **filters)


def query(
    session: Session,
    *,
    account_id: uuid.UUID | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditEntry], int | None]:
    """One page of entries, newest first, and the offset of the next page (None on the last one)."""
    statement = select(AuditEntry)
    if account_id is not None:
        statement = statement.where(AuditEntry.account_id == account_id)
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    if since is not None:
        statement = statement.where(AuditEntry.occurred_at >= since.astimezone(UTC))
    if until is not None:
        statement = statement.where(AuditEntry.occurred_at < until.astimezone(UTC))
    rows = list(
        session.scalars(
            statement.order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
            .offset(offset)
            .limit(limit + 1)
        )
    )
    more = len(rows) > limit
    return rows[:limit], (offset + limit if more else None)
