"""IAM's events: `publish` adds one to IAM's outbox in the caller's transaction (saved with the change)."""

from __future__ import annotations

from typing import Any

from polis.events import Event
from polis.events import outbox as events_outbox
from sqlalchemy.orm import Session

from iam.models import outbox

PRODUCER = "iam"


def event(type: str, data: dict[str, Any]) -> Event:
    """A new event produced by IAM (checked against its contract when it is recorded)."""
    return Event.new(type, data, producer=PRODUCER)


def record(session: Session, made: Event) -> None:
    """Add an event built beforehand to IAM's outbox (validated first: a bad one rolls the change back)."""
    events_outbox.record(session, made, outbox)


def publish(session: Session, type: str, data: dict[str, Any]) -> Event:
    """Add the event `type` with `data` to IAM's outbox, in the caller's transaction; returns it."""
    made = event(type, data)
    record(session, made)
    return made


def record_or_rehearse(session: Session, made: Event, *, keep: bool) -> None:
    """Record the event inside a savepoint, rolled back when `keep` is false: a request that emits nothing
    runs the same statements as one that does (uniform timing) and the event never leaves the transaction."""
    savepoint = session.begin_nested()
    record(session, made)
    if keep:
        savepoint.commit()
    else:
        savepoint.rollback()
