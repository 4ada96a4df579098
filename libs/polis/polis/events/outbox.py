"""The transactional outbox: events are written with the change that caused them, in the same transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, insert
from sqlalchemy.orm import Session

from polis.events import contracts
from polis.events.envelope import Event, envelope_json

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
    """`record` for a batch: every event validated, then all written at once (COPY on PostgreSQL) in the
    caller's transaction."""
    if not events:
        return
    rows = []
    now = _now()
    for event in events:
        envelope = event.to_dict()
        contracts.validate_dict(envelope)
        rows.append(
            {
                "event_id": event.id,
                "event_type": event.type,
                "payload": envelope_json(envelope),
                "created_at": now,
                "attempts": 0,
            }
        )
    insert_rows(session, table, rows)


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Many rows into `table` in the caller's transaction: COPY on PostgreSQL, a multi-row INSERT elsewhere.

    Every row has the same keys, values as SQLAlchemy takes them. COPY skips SQLAlchemy's bind processing,
    so JSON columns are serialised here; the other values go to the driver as they are (str, int, datetime,
    uuid.UUID, None).
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        session.execute(insert(table), rows)
        return
    names = list(rows[0])
    columns = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in names)
    target = connection.dialect.identifier_preparer.format_table(table)
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    # As SQLAlchemy's JSON type does: None is JSON null unless the column says none_as_null.
    as_json = [isinstance(kind := table.c[name].type, JSON) and not kind.none_as_null for name in names]
    with driver_connection.cursor() as cursor, cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row[name]) if encode else row[name]
                    for name, encode in zip(names, as_json, strict=True)
                ]
            )
