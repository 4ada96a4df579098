"""Event handlers (thin): each turns an event that means an email into a queued delivery."""

from __future__ import annotations

from collections.abc import Callable

from polis.events import Event
from sqlalchemy.orm import Session

from notifier.delivery import service


def handle_email_confirmation_requested(session: Session, event: Event) -> None:
    """D-ACC-3: the registration confirmation link. The data is stored as received: the link stays sealed."""
    service.enqueue(
        session=session,
        event_id=event.id,
        kind="email_confirmation",
        recipient=event.data["email"],
        language=event.data["language"],
        payload=event.data,
        correlation_id=event.correlation_id,
    )


HANDLERS: dict[str, Callable[[Session, Event], None]] = {
    "iam.email_confirmation_requested": handle_email_confirmation_requested,
}
