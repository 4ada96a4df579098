"""Submitting a draft (D-IST-2/3/6): the personal code checked by enablement, the window by the server's
clock at the request's arrival, a protocol number once per click, the receipt rendered outside any lock.

Three short steps, so that concurrent submissions hold the year's counter row (istanze.protocol) only for
the writes that must commit with the number (docs/performance.md, P6):
1. checks without any lock (the procedure, the window, the category, every section, the idempotency key),
   then the personal code over RPC, still without any lock or transaction;
2. transaction 1: the draft locked, checked again, the protocol number taken last, the application
   registered ("protocollata") with its protocol register row, the receipt pending - then commit. The
   number is taken only in the transaction that commits the submission: a rollback gives it back (no gap);
3. the receipt rendered (no lock, no transaction), then transaction 2 files it with its SHA-256, the event
   and the state "inoltrata" (applications.completion, idempotent). If the process dies before, the
   worker's sweep completes it; a failed render leaves the submission registered, pending, for the sweep.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from polis.db import Database
from sqlalchemy import String, Table, Uuid, and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from istanze.applications.completion import build_receipt_data, complete, receipt_inputs
from istanze.applications.models import DRAFT, PENDING, SUBMITTED, Application, StaffProfile
from istanze.applications.schools import SCHOOLS
from istanze.applications.service import NotAllowed, SectionInvalid, category_of, closed_reason
from istanze.contacts.models import ContactDetails
from istanze.contacts.service import details_of, receipt_lines
from istanze.forms.validation import validate_section
from istanze.procedures import service as procedures
from istanze.procedures.models import PUBLISHED, Procedure
from istanze.protocol.service import next_number
from istanze.receipts.models import Receipt
from istanze.receipts.service import RECEIPT_COLUMNS, register_receipt_values

log = logging.getLogger("istanze.submission")

# (account_id, personal code) -> enablement.check_personal_code's reply; raises polis.rpc.RpcUnavailable.
CodeChecker = Callable[[uuid.UUID, str], Mapping[str, Any]]


class CodeRefused(PermissionError):
    """The personal code was not accepted: `status` is wrong, locked, not_enabled or must_change."""

    def __init__(self, status: str, retry_after: int | None = None) -> None:
        super().__init__(status)
        self.status, self.retry_after = status, retry_after


@dataclass(frozen=True)
class Submission:
    application: Application  # detached
    receipt: Receipt | None = None  # detached, when this call filed it


# The submission's statements, built once (issue 15, P6): building a statement and its cache key cost about
# as much as running it. Each call only binds its values.
_ACCOUNT, _CODE = bindparam("account_id", type_=Uuid()), bindparam("code", type_=String())
_DRAFT = select(Application).where(Application.account_id == _ACCOUNT, Application.procedure_code == _CODE)
# Two clicks racing on PostgreSQL: the second waits for the first's transaction 1, then sees its result.
_DRAFT_LOCKED = _DRAFT.with_for_update()
_FIRST_READ = (
    select(Procedure, Application, StaffProfile.staff_category, ContactDetails)
    .outerjoin(
        Application, and_(Application.account_id == _ACCOUNT, Application.procedure_code == Procedure.code)
    )
    .outerjoin(StaffProfile, StaffProfile.account_id == _ACCOUNT)
    .outerjoin(ContactDetails, ContactDetails.account_id == _ACCOUNT)
    .where(Procedure.code == _CODE, Procedure.status == PUBLISHED)
)
_applications, _receipts = cast(Table, Application.__table__), cast(Table, Receipt.__table__)
SUBMISSION_COLUMNS = (
    "state",
    "submission_key",
    "protocol_year",
    "protocol_number",
    "segnatura",
    "submitted_at",
    "updated_at",
)
_REGISTER_APPLICATION = (
    update(_applications)
    .where(_applications.c.id == bindparam("a_id", type_=Uuid()))
    .values({name: bindparam(f"a_{name}", type_=_applications.c[name].type) for name in SUBMISSION_COLUMNS})
)
_INSERT_RECEIPT = insert(_receipts).values(
    {
        column.name: bindparam(f"r_{column.name}", type_=column.type)
        for column in _receipts.c
        if column.name in RECEIPT_COLUMNS
    }
)
# PostgreSQL: both in one statement, the UPDATE in a WITH of the INSERT.
_REGISTER = _INSERT_RECEIPT.add_cte(_REGISTER_APPLICATION.returning(_applications.c.id).cte("registered"))


def _draft(session: Session, *, account_id: uuid.UUID, code: str, lock: bool) -> Application:
    draft = session.scalar(_DRAFT_LOCKED if lock else _DRAFT, {"account_id": account_id, "code": code})
    if draft is None:
        raise NotAllowed("no_draft")
    return draft


def _repeated(draft: Application, key: str) -> bool:
    """The same click again (its key): answered with the submission it made, no second number."""
    return draft.state in (SUBMITTED, PENDING) and draft.submission_key == key


@contextmanager
def _reading(db: Database) -> Iterator[Session]:
    """A session for one read: on PostgreSQL outside any transaction (AUTOCOMMIT: a single statement is its
    own snapshot, and no BEGIN and COMMIT round trips), on SQLite in a transaction as everywhere else."""
    if db.is_sqlite:
        with db.transaction() as session:
            yield session
        return
    with (
        db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection,
        Session(bind=connection, expire_on_commit=False) as session,
    ):
        yield session


def _register(
    session: Session, *, draft_id: uuid.UUID, draft: Mapping[str, Any], receipt: Mapping[str, Any]
) -> None:
    """The application's submission columns and its protocol register row: Core statements (no ORM flush),
    one statement on PostgreSQL (the UPDATE in a WITH of the INSERT), so the counter's row lock taken just
    before is held for one round trip and the commit."""
    params = {"a_id": draft_id, **{f"a_{k}": v for k, v in draft.items()}}
    params.update({f"r_{k}": v for k, v in receipt.items()})
    if session.get_bind().dialect.name == "sqlite":
        session.execute(_REGISTER_APPLICATION, params)
        session.execute(_INSERT_RECEIPT, params)
        return
    session.execute(_REGISTER, params)


def _first_read(
    session: Session, *, account_id: uuid.UUID, code: str
) -> tuple[Procedure, Application, str | None, ContactDetails | None]:
    """The published procedure, the user's draft, declared category and contact details in one statement
    (four reads before; issue 15, P6). UnknownProcedure, or NotAllowed("no_draft"), as they were."""
    row = session.execute(_FIRST_READ, {"account_id": account_id, "code": code}).first()
    if row is None:
        raise procedures.UnknownProcedure(code)
    procedure, draft, category, details = row
    if draft is None:
        raise NotAllowed("no_draft")
    return procedure, draft, category, details


def _check(procedure: Procedure, draft: Application, arrived_at: datetime, category: str | None) -> None:
    if draft.state != DRAFT:
        raise NotAllowed("not_a_draft")
    if not procedure.window.is_open(arrived_at):  # D-IST-6: the server's clock when the request arrived
        raise closed_reason(procedure, arrived_at)
    if category not in procedure.staff_categories:
        raise NotAllowed("not_your_category")  # D-IST-6: a category changed after the draft was saved
    for section in procedure.form["sections"]:
        _, errors = validate_section(
            procedure.form, section["id"], draft.answers.get(section["id"], {}), schools=SCHOOLS
        )
        if errors:
            raise SectionInvalid({f"{section['id']}.{name}": error for name, error in errors.items()})


def submit(
    db: Database,
    *,
    account_id: uuid.UUID,
    code: str,
    personal_code: str,
    key: str,
    check_code: CodeChecker,
    arrived_at: datetime,
    administration: str,
    aoo: str,
    register: str,
    applicant: str | None = None,
) -> Submission:
    """Submit the user's draft of `code`; the same `key` again answers the same submission (double click).

    Returns the application (detached): "inoltrata" with its receipt filed, or "protocollata" when the
    receipt is still pending (a repeated click while the first one renders it, or a failed render: the
    worker's sweep files it); and the receipt when this call filed it (else None: read it if needed).
    `applicant` is the user's name for the receipt when the caller knows it (the token's claims)."""
    # Step 1: the checks, without any lock; the personal code outside any transaction.
    with _reading(db) as session:
        procedure, draft, category, details = _first_read(session, account_id=account_id, code=code)
    if _repeated(draft, key):
        return Submission(draft)
    _check(procedure, draft, arrived_at, category)
    seen = dict(draft.answers)
    contacts = receipt_lines(details_of(details))  # in force at submission
    reply = check_code(account_id, personal_code)  # D-IST-2: only enabled accounts, enablement's throttling
    if not reply.get("valid"):
        raise CodeRefused(str(reply.get("status", "wrong")), reply.get("retry_after"))

    inputs = receipt_inputs(applicant, contacts)
    # Step 2 (transaction 1): register the submission; the counter's row lock is the last thing taken.
    with db.transaction() as session:
        draft = _draft(session, account_id=account_id, code=code, lock=True)
        if _repeated(draft, key):
            return Submission(draft)  # the same click won the race while this one checked the code
        if draft.state != DRAFT or draft.answers != seen:
            # Changed meanwhile: everything checked again.
            _check(procedure, draft, arrived_at, category_of(session, account_id=account_id))
        number = next_number(session, at=arrived_at)
        segnatura = number.segnatura(administration=administration, aoo=aoo, register=register)
        columns = {
            "state": PENDING,
            "submission_key": key,
            "protocol_year": number.year,
            "protocol_number": number.number,
            "segnatura": segnatura,
            "submitted_at": arrived_at,
            "updated_at": arrived_at,
        }
        registration = register_receipt_values(
            application_id=draft.id,
            account_id=account_id,
            procedure_code=procedure.code,
            procedure_version=procedure.version,
            procedure_title=procedure.title_it,
            protocol_year=number.year,
            protocol_number=number.number,
            segnatura=segnatura,
            registered_at=arrived_at,
            render_inputs=inputs,
        )
        _register(session, draft_id=draft.id, draft=columns, receipt=registration)
        session.expunge(draft)  # written above by Core: the object is the answer, never flushed
    for name, value in columns.items():
        setattr(draft, name, value)
    receipt = Receipt(**registration)  # transient: the answer's copy of the row just inserted
    receipt_id = receipt.id

    # Step 3: the receipt rendered outside any lock, then filed (transaction 2, idempotent).
    data = build_receipt_data(
        procedure,
        answers=draft.answers,
        number_text=number.text,
        segnatura=segnatura,
        registered_at=arrived_at,
        account_id=str(account_id),
        inputs=inputs,
    )
    try:
        filed, digest, size = complete(db, receipt_id=receipt_id, data=data, registered=receipt)
    except Exception:  # registered with its number: the worker's sweep files the receipt later
        log.exception("receipt not filed after registration", extra={"receipt_id": str(receipt_id)})
        return Submission(draft)
    draft.state = SUBMITTED  # filed now, by this call or (a racing sweep) by another
    if not filed:
        return Submission(draft)
    # The detached register row as filed (never flushed again): the answer needs no further read.
    receipt.sha256, receipt.size, receipt.pending_since, receipt.render_inputs = digest, size, None, None
    return Submission(draft, receipt)
