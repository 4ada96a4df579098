"""A batch's outbox rows, one event per account, written as a set (D-REV-2, D-REV-3).

The events of a batch differ only in their id and their account id: the envelope is made once per batch
as `Event.to_json()` writes it (sorted keys, compact), validated against its contract, and cut around
those two places. On PostgreSQL the rows are then an `INSERT ... SELECT` inside the batch's statement
(time-ordered event ids made by PostgreSQL from the batch's `IdSeries`; the text spliced by PostgreSQL): no
row travels to Python and back.
Elsewhere (SQLite) they are a multi-row INSERT from Python. Either way the payload is byte for byte the
envelope `outbox.record` would have written for that event.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from polis.events import Event, contracts
from polis.events import outbox as events_outbox
from polis.events.envelope import envelope_json
from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    DateTime,
    Insert,
    String,
    Text,
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


@dataclass(frozen=True)
class IdSeries:
    """Time-ordered ids for the rows of one statement: UUIDv7s (RFC 9562) sharing the statement's Unix
    milliseconds and 26 random bits (`prefix`, the text up to the last group), whose last 48 bits count up
    from a random `base`: row n of the statement gets base + n (RFC 9562 6.2, a counter seeded at random).
    A batch's rows then go to the right edge of their id indexes (outbox.event_id, audit_entries.id)
    instead of a thousand random leaf pages of indexes holding millions of ids, and PostgreSQL makes each
    id with one addition and one hex formatting instead of a call to its random generator (PostgreSQL 15
    has no uuidv7() of its own)."""

    prefix: str
    base: int

    @classmethod
    def new(cls) -> IdSeries:
        millis = f"{time.time_ns() // 1_000_000:012x}"
        bits = secrets.randbits(26)
        prefix = f"{millis[:8]}-{millis[8:]}-7{bits >> 14:03x}-{0x8000 | (bits & 0x3FFF):04x}-"
        return cls(prefix, secrets.randbelow(_LAST_GROUP - _MAX_ROWS))

    def text(self, n: int) -> str:
        """Python's spelling of what `series_id` makes in SQL (row n, counted from 1)."""
        return f"{self.prefix}{self.base + n:012x}"


_LAST_GROUP, _MAX_ROWS = 1 << 48, 1 << 32


def series_id(
    prefix: ColumnElement[str], base: ColumnElement[int], n: ColumnElement[int]
) -> ColumnElement[str]:
    """PostgreSQL: the text of id number `n` of an IdSeries given as SQL values (bound parameters)."""
    return prefix + func.lpad(func.to_hex(base + n), 12, "0")


def numbered(account_ids: Any, name: str) -> CTE:
    """The rows of a batch numbered from 1 (any order): the counter of their IdSeries."""
    return select(account_ids.label("account_id"), func.row_number().over().label("n")).cte(name)


def insert_from(
    rows: CTE,
    *,
    event_type: ColumnElement[str],
    head: ColumnElement[str],
    middle: ColumnElement[str],
    tail: ColumnElement[str],
    created_at: ColumnElement[datetime],
    prefix: ColumnElement[str],
    base: ColumnElement[int],
) -> Insert:
    """PostgreSQL: one outbox row per row of `rows` (a `numbered` CTE), as an INSERT ... SELECT to put in
    the batch's statement as a CTE of its own; the template's parts and the ids' series as SQL values."""
    event_id = series_id(prefix, base, rows.c.n)
    return insert(outbox).from_select(
        list(OUTBOX_COLUMNS),
        select(
            event_id,
            event_type,
            head + cast(rows.c.account_id, Text) + middle + event_id + tail,
            created_at,
            literal(0),
        ),
    )


def literal_values(shape: Template, ids: IdSeries) -> dict[str, ColumnElement[Any]]:
    """`insert_from`'s keywords for a statement built for one batch (the announcement's)."""
    return {
        "event_type": literal(shape.event_type, String),
        "head": literal(shape.head, Text),
        "middle": literal(shape.middle, Text),
        "tail": literal(shape.tail, Text),
        "created_at": literal(datetime.now(UTC), DateTime(timezone=True)),
        "prefix": literal(ids.prefix, Text),
        "base": literal(ids.base, BigInteger),
    }


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
