"""Delivery log use cases: enqueue an email owed, claim due ones for sending, record each outcome."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from polis.db import Database
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from notifier.delivery.models import FAILED, QUEUED, SENDING, SENT, Delivery


def _now() -> datetime:
    return datetime.now(UTC)


def enqueue(
    *,
    session: Session,
    event_id: str,
    kind: str,
    recipient: str,
    language: str,
    payload: dict[str, Any],
    correlation_id: str | None = None,
) -> Delivery | None:
    """Add a delivery in the caller's transaction (the consumer's); None when this event already has one."""
    key = uuid.UUID(event_id)
    if session.scalar(select(Delivery.id).where(Delivery.event_id == key)) is not None:
        return None
    now = _now()
    delivery = Delivery(
        id=uuid.uuid4(),
        event_id=key,
        kind=kind,
        recipient=recipient,
        language=language,
        correlation_id=correlation_id,
        payload=payload,
        state=QUEUED,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    return delivery


def list_deliveries(
    *, db: Database, state: str | None = None, kind: str | None = None, limit: int = 100
) -> list[Delivery]:
    """The newest deliveries, optionally of one state and kind (operators' view)."""
    query = select(Delivery).order_by(Delivery.created_at.desc()).limit(limit)
    if state is not None:
        query = query.where(Delivery.state == state)
    if kind is not None:
        query = query.where(Delivery.kind == kind)
    with db.transaction() as session:
        return list(session.scalars(query))


def claim_due(*, db: Database, limit: int, lease: timedelta) -> list[Delivery]:
    """Mark up to `limit` due deliveries `sending` for this sender and return them.

    Due: queued rows whose time has come, and `sending` rows whose lease ran out (their sender died
    mid-batch; they are sent again, see sender.py on duplicates).
    """
    now = _now()
    due = or_(
        and_(Delivery.state == QUEUED, Delivery.next_attempt_at <= now),
        and_(Delivery.state == SENDING, Delivery.next_attempt_at <= now),
    )
    with db.transaction() as session:
        candidates = session.scalars(
            select(Delivery.id)
            .where(due)
            .order_by(Delivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL: parallel senders take different rows
        ).all()
        if not candidates:
            return []
        # The condition is repeated in the UPDATE so that, on SQLite too, a row another sender claimed
        # in the meantime is not claimed twice.
        claimed = session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(candidates), due)
            .values(state=SENDING, next_attempt_at=now + lease)
            .returning(Delivery.id)
        ).all()
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(claimed))).all()
        return sorted(rows, key=lambda row: row.created_at)


def mark_sent(*, db: Database, delivery_id: uuid.UUID) -> None:
    with db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(state=SENT, sent_at=_now(), attempts=Delivery.attempts + 1, last_error=None)
        )


def mark_retry(
    *, db: Database, delivery_ids: Sequence[uuid.UUID], error: str, delays: Sequence[float], max_attempts: int
) -> None:
    """A temporary failure: back to queued with a later attempt, or failed once attempts run out."""
    now = _now()
    with db.transaction() as session:
        for delivery in session.scalars(select(Delivery).where(Delivery.id.in_(delivery_ids))):
            delivery.attempts += 1
            delivery.last_error = error[:1000]
            if delivery.attempts >= max_attempts:
                delivery.state = FAILED
                delivery.last_error = f"gave up after {delivery.attempts} attempts: {error}"[:1000]
                continue
            delay = delays[min(delivery.attempts, len(delays)) - 1]
            delivery.state = QUEUED
            delivery.next_attempt_at = now + timedelta(seconds=delay)


def mark_failed(*, db: Database, delivery_id: uuid.UUID, error: str) -> None:
    """A permanent failure (5xx, unrenderable message): no further attempt."""
    with db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(state=FAILED, attempts=Delivery.attempts + 1, last_error=error[:1000])
        )
