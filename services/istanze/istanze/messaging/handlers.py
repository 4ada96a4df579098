"""Event handlers (thin): a revoked account loses its drafts; its submitted applications stay (D-IST-6)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from polis.events import Event
from sqlalchemy import delete
from sqlalchemy.orm import Session

from istanze.applications.models import DRAFT, Application

Handler = Callable[[Session, Event], None]


def _revoked(session: Session, event: Event) -> None:
    # D-IST-6: drafts are the user's, deleted; submitted applications are the administration's record.
    account_id = uuid.UUID(event.data["account_id"])
    session.execute(
        delete(Application).where(Application.account_id == account_id, Application.state == DRAFT)
    )


HANDLERS: dict[str, Handler] = {"iam.account_revoked": _revoked}
