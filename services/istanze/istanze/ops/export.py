"""Exports for the offices that process applications (issue 15 item 10): the submitted applications of a
procedure as CSV or JSON, streamed, and the counts per state. No Flask here.

The rows are read with `yield_per` (on PostgreSQL a server-side cursor: psycopg fetches them in batches),
turned into text batch by batch and handed on as they are made: a million rows never sit in memory, only
one batch of rows and one chunk of output do.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from polis.db import Database
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from istanze.applications.models import PENDING, SUBMITTED, Application, Withdrawal
from istanze.contacts.models import ContactDetails
from istanze.procedures.window import ROME
from istanze.receipts.models import Receipt

BATCH = 1000  # rows fetched at a time
CHUNK = 64 * 1024  # characters of output handed on at a time
CONTACT_COLUMNS = (
    "mobile_phone",
    "home_phone",
    "address",
    "postal_code",
    "comune",
    "province",
    "locality",
    "nation",
)
FIXED_COLUMNS = (
    "application_id",
    "account_id",
    "protocol_year",
    "protocol_number",
    "segnatura",
    "submitted_at",
    "receipt_sha256",
)


def answer_columns(form: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(column, section id, field name) for every field of the form, in the form's order."""
    return [
        (f"{section['id']}.{item['name']}", section["id"], item["name"])
        for section in form.get("sections", [])
        for item in section["fields"]
    ]


def columns(form: Mapping[str, Any]) -> list[str]:
    """The CSV header: fixed columns, the recapito's, then one per form field."""
    return [*FIXED_COLUMNS, *CONTACT_COLUMNS, *(c for c, _, _ in answer_columns(form))]


def _flat(value: Any) -> Any:
    """One answer as a CSV cell: schools joined by ';', an attachment by its SHA-256, a declaration 'true'."""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return value.get("sha256", "")
    if value is True:
        return "true"
    return "" if value is None else value


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _query(code: str) -> Any:
    return (
        select(
            Application.id,
            Application.account_id,
            Application.protocol_year,
            Application.protocol_number,
            Application.segnatura,
            Application.submitted_at,
            Application.answers,
            Receipt.sha256,
            *(getattr(ContactDetails, c) for c in CONTACT_COLUMNS),
        )
        .outerjoin(Receipt, and_(Receipt.application_id == Application.id, Receipt.withdrawn_at.is_(None)))
        .outerjoin(ContactDetails, ContactDetails.account_id == Application.account_id)
        # A "protocollata" application is registered with its number (its receipt still being filed): it
        # is submitted for the offices, its receipt_sha256 empty until the receipt is filed.
        .where(Application.procedure_code == code, Application.state.in_((SUBMITTED, PENDING)))
        .order_by(Application.protocol_year, Application.protocol_number)
        .execution_options(yield_per=BATCH)
    )


def submitted_rows(session: Session, *, code: str, form: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The submitted applications of `code`, one dict per row (columns(form) keys), read in batches."""
    rome = ZoneInfo(ROME)
    fields = answer_columns(form)
    for row in session.execute(_query(code)):
        answers = row.answers or {}
        record: dict[str, Any] = {
            "application_id": str(row.id),
            "account_id": str(row.account_id),
            "protocol_year": row.protocol_year,
            "protocol_number": f"{row.protocol_number:07d}",
            "segnatura": row.segnatura,
            "submitted_at": _aware(row.submitted_at).astimezone(rome).isoformat()
            if row.submitted_at
            else None,
            "receipt_sha256": row.sha256,
        }
        for name in CONTACT_COLUMNS:
            record[name] = getattr(row, name)
        for column, section, name in fields:
            record[column] = answers.get(section, {}).get(name)
        yield record


def _stream(
    db: Database, code: str, form: Mapping[str, Any], write: Any, start: str, end: str
) -> Iterator[str]:
    buffer = io.StringIO()
    buffer.write(start)
    session = db.session()
    try:
        with session.begin():
            for record in submitted_rows(session, code=code, form=form):
                write(buffer, record)
                if buffer.tell() >= CHUNK:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
    finally:
        session.close()
    buffer.write(end)
    yield buffer.getvalue()


def csv_chunks(db: Database, *, code: str, form: Mapping[str, Any]) -> Iterator[str]:
    """The CSV text (header first), chunk by chunk, in its own transaction."""
    header = columns(form)
    head = io.StringIO()
    csv.writer(head).writerow(header)

    def write(buffer: io.StringIO, record: Mapping[str, Any]) -> None:
        csv.writer(buffer).writerow([_flat(record[c]) for c in header])

    return _stream(db, code, form, write, head.getvalue(), "")


def json_chunks(db: Database, *, code: str, form: Mapping[str, Any]) -> Iterator[str]:
    """{"procedure_code", "applications": [...]} chunk by chunk, in its own transaction."""
    first = [True]

    def write(buffer: io.StringIO, record: Mapping[str, Any]) -> None:
        if not first[0]:
            buffer.write(",")
        first[0] = False
        buffer.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))

    return _stream(db, code, form, write, f'{{"procedure_code":{json.dumps(code)},"applications":[', "]}")


def counts(session: Session, *, code: str) -> dict[str, int]:
    """Applications of `code` by state (bozza, inoltrata) and the withdrawn submissions (annullata)."""
    by_state = dict(
        session.execute(
            select(Application.state, func.count())
            .where(Application.procedure_code == code)
            .group_by(Application.state)
        ).all()
    )
    withdrawn = session.scalar(
        select(func.count())
        .select_from(Withdrawal)
        .join(Application, Application.id == Withdrawal.application_id)
        .where(Application.procedure_code == code)
    )
    return {
        "bozza": int(by_state.get("bozza", 0)),
        "inoltrata": int(by_state.get(SUBMITTED, 0)) + int(by_state.get(PENDING, 0)),  # registered ones
        "annullata": int(withdrawn or 0),
    }
