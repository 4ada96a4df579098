"""The transactional outbox: events are written with the change that caused them, in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, insert
from sqlalchemy.orm import Session

from polis.events import contracts
from polis.events.envelope import Event

OUTBOX_TABLE = "outbox"


def _now() -> datetime:
    return datetime.now(UTC)


def define_outbox(metadata: MetaData, name: str = OUTBOX_TABLE) -> Table:
    """The outbox table on a service's metadata, so its migrations create it with its own tables."""
    return Table(
        name,
        metadata,
        # SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, default=_now),
        Column("sent_at", DateTime(timezone=True), nullable=True, index=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", DateTime(timezone=True), nullable=True),
        Column("last_error", Text, nullable=True),
    )


def record(session: Session, event: Event, table: Table) -> None:
    """Validate the event against its contract, then add it to the outbox in the caller's transaction.

    A contract violation raises before anything is written; the caller's transaction then rolls back, so a
    change is never committed without its event, nor an event without its change.
    """
    contracts.validate(event)
    session.execute(
        insert(table).values(
            event_id=event.id,
            event_type=event.type,
            payload=event.to_json().decode(),
            created_at=_now(),
            attempts=0,
        )
    )


def record_many(session: Session, events: list[Event], table: Table) -> None:
    """`record` for a batch: every event validated, then one multi-row INSERT in the caller's transaction."""
    if not events:
        return
    for event in events:
        contracts.validate(event)
    now = _now()
    session.execute(
        insert(table),
        [
            {
                "event_id": event.id,
                "event_type": event.type,
                "payload": event.to_json().decode(),
                "created_at": now,
                "attempts": 0,
            }
            for event in events
        ],
    )
