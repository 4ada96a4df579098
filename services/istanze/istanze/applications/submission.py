"""Submitting a draft (D-IST-2/3/6): the personal code checked by enablement, the window by the server's
clock at the request's arrival, a protocol number in the same transaction, once per click."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from istanze.applications.models import DRAFT, SUBMITTED, Application
from istanze.applications.schools import SCHOOLS
from istanze.applications.service import NotAllowed, SectionInvalid, category_of
from istanze.forms.validation import validate_section
from istanze.procedures import service as procedures
from istanze.protocol.service import next_number

# (account_id, personal code) -> enablement.check_personal_code's reply; raises polis.rpc.RpcUnavailable.
CodeChecker = Callable[[uuid.UUID, str], Mapping[str, Any]]


class CodeRefused(PermissionError):
    """The personal code was not accepted: `status` is wrong, locked, not_enabled or must_change."""

    def __init__(self, status: str, retry_after: int | None = None) -> None:
        super().__init__(status)
        self.status, self.retry_after = status, retry_after


def submit(
    session: Session,
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
) -> Application:
    """Submit the user's draft of `code`; the same `key` again answers the same submission (double click)."""
    procedure = procedures.published(session, code=code)
    draft = session.scalar(
        select(Application)
        .where(Application.account_id == account_id, Application.procedure_code == code)
        .with_for_update()  # two clicks racing on PostgreSQL: the second waits, then sees the first's result
    )
    if draft is None:
        raise NotAllowed("no_draft")
    if draft.state == SUBMITTED and draft.submission_key == key:
        return draft  # the same click again: no second number
    if draft.state != DRAFT:
        raise NotAllowed("not_a_draft")
    if not procedure.window.is_open(arrived_at):  # D-IST-6: the server's clock when the request arrived
        raise NotAllowed("window_closed")
    if category_of(session, account_id=account_id) not in procedure.staff_categories:
        raise NotAllowed("not_your_category")  # D-IST-6: a category changed after the draft was saved
    for section in procedure.form["sections"]:
        _, errors = validate_section(
            procedure.form, section["id"], draft.answers.get(section["id"], {}), schools=SCHOOLS
        )
        if errors:
            raise SectionInvalid({f"{section['id']}.{name}": error for name, error in errors.items()})
    reply = check_code(account_id, personal_code)  # D-IST-2: only enabled accounts, enablement's throttling
    if not reply.get("valid"):
        raise CodeRefused(str(reply.get("status", "wrong")), reply.get("retry_after"))
    number = next_number(session, at=arrived_at)
    draft.state = SUBMITTED
    draft.submission_key = key
    draft.protocol_year = number.year
    draft.protocol_number = number.number
    draft.segnatura = number.segnatura(administration=administration, aoo=aoo, register=register)
    draft.submitted_at = arrived_at
    draft.updated_at = arrived_at
    session.flush()
    return draft
