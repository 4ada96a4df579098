"""A batch's outbox rows, one event per account, written as a set (D-REV-2, D-REV-3).

The events of a batch differ only in their id and their account id: the envelope is made once per batch
as `Event.to_json()` writes it (sorted keys, compact), validated against its contract, and cut around
those two places. On PostgreSQL the rows are then an `INSERT ... SELECT` inside the batch's statement
(time-ordered event ids made by PostgreSQL, `time_ordered_uuid`; the text spliced by PostgreSQL): no row
travels to Python and back.
Elsewhere (SQLite) they are a multi-row INSERT from Python. Either way the payload is byte for byte the
envelope `outbox.record` would have written for that event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from polis.events import Event, contracts
from polis.events import outbox as events_outbox
from polis.events.envelope import envelope_json
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Insert,
    LargeBinary,
    String,
    Text,
    Uuid,
    cast,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Session

from iam.models import outbox
from iam.revocation.common import PRODUCER

OUTBOX_COLUMNS = ("event_id", "event_type", "payload", "created_at", "attempts")
_EVENT_ID, _ACCOUNT_ID = "@@event-id@@", "@@account-id@@"


@dataclass(frozen=True)
class Template:
    """An event's envelope text around its account id and its event id: head + account + middle + event
    + tail (sorted keys put "data", holding the account id, before "id")."""

    event_type: str
    head: str
    middle: str
    tail: str

    def payload(self, account_id: str, event_id: str) -> str:
        return f"{self.head}{account_id}{self.middle}{event_id}{self.tail}"


def template(event_type: str, data: dict[str, Any]) -> Template:
    """The envelope of `event_type` with `data` and an account id, validated against the contract once
    with a real id in each place: what is spliced in is a UUID's text, which needs no JSON escaping."""
    sample = Event.new(event_type, {"account_id": str(uuid.uuid4()), **data}, producer=PRODUCER)
    envelope = sample.to_dict()
    contracts.validate_dict(envelope)
    envelope["id"] = _EVENT_ID
    envelope["data"] = {**envelope["data"], "account_id": _ACCOUNT_ID}
    head, rest = envelope_json(envelope).split(_ACCOUNT_ID)
    middle, tail = rest.split(_EVENT_ID)
    return Template(event_type, head, middle, tail)


def time_ordered_uuid() -> ColumnElement[uuid.UUID]:
    """PostgreSQL: a UUIDv7 (RFC 9562) made per row: 48 bits of Unix milliseconds, then gen_random_uuid()'s
    random bits with the version set to 7. A batch's thousand outbox and audit rows then go to the right
    edge of their id indexes (outbox.event_id, audit_entries.id) instead of a thousand random leaf pages
    of indexes that hold millions of ids; PostgreSQL 15 has no uuidv7() of its own."""
    millis = cast(func.floor(func.extract("epoch", func.clock_timestamp()) * 1000), BigInteger)
    raw = func.substr(func.int8send(millis), 3).op("||", return_type=LargeBinary)(
        func.substr(func.uuid_send(func.gen_random_uuid()), 7)
    )
    # Version bits 52 and 53 (set_bit counts from each byte's low bit): v4's 0100 becomes 0111.
    versioned = func.set_bit(func.set_bit(raw, 52, 1), 53, 1)
    return cast(func.encode(versioned, "hex"), Uuid)


def insert_from(account_ids: Any, shape: Template) -> Insert:
    """PostgreSQL: one outbox row per account id of `account_ids` (a CTE's column), as an INSERT ...
    SELECT to put in the batch's statement as a CTE of its own."""
    # The event id is made once per row and used twice: its CTE is materialized (a volatile function).
    numbered = (
        select(cast(time_ordered_uuid(), Text).label("event_id"), account_ids.label("account_id"))
        .cte("numbered")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return insert(outbox).from_select(
        list(OUTBOX_COLUMNS),
        select(
            numbered.c.event_id,
            literal(shape.event_type, String),
            literal(shape.head, Text)
            + cast(numbered.c.account_id, Text)
            + literal(shape.middle, Text)
            + numbered.c.event_id
            + literal(shape.tail, Text),
            literal(datetime.now(UTC), DateTime(timezone=True)),
            literal(0),
        ),
    )


def insert_rows(session: Session, account_ids: Iterable[uuid.UUID], shape: Template) -> None:
    """Elsewhere: the same rows from Python, in one multi-row INSERT (COPY on PostgreSQL)."""
    created = datetime.now(UTC)
    rows = []
    for account_id in account_ids:
        event_id = str(uuid.uuid4())
        rows.append(
            {
                "event_id": event_id,
                "event_type": shape.event_type,
                "payload": shape.payload(str(account_id), event_id),
                "created_at": created,
                "attempts": 0,
            }
        )
    events_outbox.insert_rows(session, outbox, rows)
