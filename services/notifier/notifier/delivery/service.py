"""Delivery log use cases: enqueue an email owed, claim due ones for sending, record each outcome, resend."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from polis.db import Database
from polis.errors import ApiError
from polis.events import Event
from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from notifier.delivery.models import FAILED, QUEUED, SENDING, SENT, Delivery


def _now() -> datetime:
    return datetime.now(UTC)


def enqueue(
    *,
    session: Session,
    event: Event,
    kind: str,
    recipients: Sequence[str],
    language: str,
    payload: dict[str, Any],
    account_id: uuid.UUID | None = None,
    failed: str | None = None,
) -> None:
    """Add a delivery in the caller's transaction (the consumer's); nothing when this event already has one.

    The event id is the idempotency key: a unique index, and the insert does nothing on a conflict.
    `failed` records a message that will not be sent (e.g. the account is revoked) with the reason.
    """
    insert_rows(
        session=session,
        rows=[
            delivery_row(
                event=event,
                kind=kind,
                recipients=recipients,
                language=language,
                payload=payload,
                account_id=account_id,
                failed=failed,
            )
        ],
    )


def delivery_row(
    *,
    event: Event,
    kind: str,
    recipients: Sequence[str],
    language: str,
    payload: dict[str, Any],
    account_id: uuid.UUID | None = None,
    failed: str | None = None,
) -> dict[str, Any]:
    """The deliveries row an event owes (see enqueue), for insert_rows."""
    now = _now()
    return {
        "id": uuid.uuid4(),
        "event_id": uuid.UUID(event.id),
        "kind": kind,
        "account_id": account_id,
        "recipient": recipients[0],
        "recipients": list(recipients),
        "language": language,
        "correlation_id": event.correlation_id,
        "payload": payload,
        "state": FAILED if failed else QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": failed,
        "occurred_at": event.occurred_at,
        "created_at": now,
    }


def insert_rows(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert delivery rows in one statement; a row whose event already has a delivery is left out."""
    if rows:
        session.execute(_insert_statement(session.get_bind().dialect.name), list(rows))


@functools.cache
def _insert_statement(dialect: str) -> Any:
    # One statement object, parameters apart: SQLAlchemy compiles it once (building `.values(**row)` per
    # event cost more than the insert itself).
    table: Any = Delivery.__table__
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=["event_id"])
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=["event_id"])
    return insert(table)  # pragma: no cover - the notifier runs on PostgreSQL or SQLite


def list_deliveries(
    *,
    db: Database,
    state: str | None = None,
    kind: str | None = None,
    account_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[Delivery]:
    """The newest deliveries, optionally of one state, kind and account (operators' view)."""
    query = select(Delivery).order_by(Delivery.created_at.desc()).limit(limit)
    if state is not None:
        query = query.where(Delivery.state == state)
    if kind is not None:
        query = query.where(Delivery.kind == kind)
    if account_id is not None:
        query = query.where(Delivery.account_id == account_id)
    with db.transaction() as session:
        return list(session.scalars(query))


class DeliveryNotFound(ApiError):
    status = 404
    code = "delivery_not_found"


class DeliveryNotFailed(ApiError):
    status = 409
    code = "delivery_not_failed"


def resend(*, db: Database, delivery_id: uuid.UUID) -> Delivery:
    """Queue a failed delivery again, now (an operator's decision after fixing the cause)."""
    with db.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise DeliveryNotFound("no such delivery")
        if delivery.state != FAILED or not delivery.payload:
            raise DeliveryNotFailed("only a failed delivery with its message can be sent again")
        delivery.state = QUEUED
        delivery.next_attempt_at = _now()
        delivery.claim_token = None
        # The bounded retry window counts from the resend.
        delivery.created_at = _now()
        delivery.attempts = 0
        return delivery


def claim_due(*, db: Database, limit: int, lease: timedelta) -> tuple[str, list[Delivery]]:
    """Mark up to `limit` due deliveries `sending` under a fresh claim token; the token and the rows.

    Due: queued rows whose time has come, and `sending` rows whose lease ran out (their sender died). One
    UPDATE statement: on PostgreSQL the sub-select skips rows another sender has locked (SKIP LOCKED); on
    SQLite the statement takes the write lock first, so two senders never claim the same row. The
    sub-select is a MATERIALIZED common table expression, evaluated once: as a plain `IN (SELECT … LIMIT …
    SKIP LOCKED)` PostgreSQL may run it again for each row it scans, each time skipping the rows locked by
    the previous runs, and claim many times `limit` rows in one go (seen: 2,725 rows for a limit of 200).
    """
    now = _now()
    token = str(uuid.uuid4())
    due = or_(
        and_(Delivery.state == QUEUED, Delivery.next_attempt_at <= now),
        and_(Delivery.state == SENDING, Delivery.next_attempt_at <= now),
    )
    candidates = (
        select(Delivery.id)
        .where(due)
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL only; SQLite renders no locking clause
        .cte("due_deliveries")
        .prefix_with("MATERIALIZED")
    )
    with db.transaction() as session:
        claimed = session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(select(candidates.c.id)), due)
            .values(
                state=SENDING,
                next_attempt_at=now + lease,
                claim_token=token,
                attempts=Delivery.attempts + 1,
                last_attempt_at=now,
            )
            .returning(Delivery.id)
        ).all()
        if not claimed:
            return token, []
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(claimed))).all()
    return token, sorted(rows, key=lambda row: row.created_at)


def mark_sent(*, db: Database, token: str, delivery_ids: Sequence[uuid.UUID]) -> None:
    """Accepted by the SMTP server: one statement for a group of rows of this claim."""
    if not delivery_ids:
        return
    with db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.claim_token == token, Delivery.state == SENDING)
            .values(state=SENT, sent_at=_now(), last_error=None)
        )


def mark_retry(
    *,
    db: Database,
    token: str,
    delivery_ids: Sequence[uuid.UUID],
    error: str,
    delays: Sequence[float],
    max_attempts: int,
    retry_for: timedelta,
) -> list[uuid.UUID]:
    """A temporary failure: back to queued with a later attempt; failed once the attempts or time run out.

    Returns the ids that gave up (now failed).
    """
    now = _now()
    gave_up = []
    with db.transaction() as session:
        rows = session.scalars(
            select(Delivery).where(
                Delivery.id.in_(delivery_ids), Delivery.claim_token == token, Delivery.state == SENDING
            )
        )
        for delivery in rows:
            delivery.last_error = error[:1000]
            delay = delays[min(delivery.attempts, len(delays)) - 1]
            retry_at = now + timedelta(seconds=delay)
            first = delivery.created_at
            first = first if first.tzinfo is not None else first.replace(tzinfo=UTC)  # SQLite drops zones
            if delivery.attempts >= max_attempts or retry_at - first > retry_for:
                delivery.state = FAILED
                delivery.last_error = f"gave up after {delivery.attempts} attempts: {error}"[:1000]
                gave_up.append(delivery.id)
                continue
            delivery.state = QUEUED
            delivery.next_attempt_at = retry_at
    return gave_up


def mark_failed(*, db: Database, token: str, delivery_ids: Sequence[uuid.UUID], error: str) -> None:
    """A permanent failure (5xx, unrenderable message): no further attempt."""
    with db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.claim_token == token, Delivery.state == SENDING)
            .values(state=FAILED, last_error=error[:1000])
        )


def backlog(*, db: Database) -> tuple[dict[str, int], float]:
    """Deliveries per state, and the age in seconds of the oldest one due and not sent (the lag)."""
    now = _now()
    with db.transaction() as session:
        counts = dict(session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
        oldest = session.scalar(
            select(func.min(Delivery.created_at)).where(
                Delivery.state.in_((QUEUED, SENDING)), Delivery.next_attempt_at <= now
            )
        )
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return {state: int(counts.get(state, 0)) for state in (QUEUED, SENDING, SENT, FAILED)}, (
        (now - oldest).total_seconds() if oldest else 0.0
    )
