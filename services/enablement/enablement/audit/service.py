"""Recording audit entries in the caller's transaction, with who, from where and the request id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from polis.requestid import current_request_id
from sqlalchemy.orm import Session

from enablement.audit.models import AuditEntry


@dataclass(frozen=True)
class Origin:
    """Where an action came from: the source address (the gateway's X-Forwarded-For) and the request id."""

    source_address: str | None = None
    request_id: str | None = None


def current_origin() -> Origin:
    from flask import request

    forwarded = request.headers.get("X-Forwarded-For", "")
    address = forwarded.split(",")[0].strip() or request.remote_addr
    return Origin(source_address=(address or None), request_id=current_request_id())


def record(
    session: Session,
    *,
    action: str,
    actor: str,
    account_id: uuid.UUID | None = None,
    origin: Origin | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    origin = origin or Origin(request_id=current_request_id())
    entry = AuditEntry(
        at=datetime.now(UTC),
        action=action,
        actor=actor,
        account_id=account_id,
        source_address=origin.source_address,
        request_id=origin.request_id,
        details=details or {},
    )
    session.add(entry)
    return entry
