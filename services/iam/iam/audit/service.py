"""Recording audit entries inside the caller's transaction, so the trail and the change commit together."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
    entry = AuditEntry(
        occurred_at=datetime.now(UTC),
        action=action,
        account_id=account_id,
        actor=actor,
        source_address=origin.source_address,
        user_agent=(origin.user_agent or "")[:300] or None,
        request_id=origin.request_id,
        details=details or {},
    )
    session.add(entry)
    return entry
