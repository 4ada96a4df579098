"""Defining, validating and publishing procedures (D-IST-1); no Flask here, one transaction per call."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from istanze.procedures.models import DRAFT, PUBLISHED, RETIRED, Procedure
from istanze.procedures.window import ROME, Window, WindowError

Clock = Callable[[], datetime]

# D-IST-6: the staff categories a user declares in istanze and a procedure may be limited to.
STAFF_CATEGORIES = ("docenti", "ata", "dirigenti_scolastici", "educatori")
# The field types a form definition may use (the declarative form of issue 15, item 2).
FIELD_TYPES = ("text", "number", "date", "choice", "schools", "declaration", "attachment")
CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # the events' procedure_code pattern


def utc_now() -> datetime:
    return datetime.now(UTC)


class ProcedureError(ValueError):
    """A procedure that cannot be defined or published; `fields` names what is wrong."""

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})


class UnknownProcedure(LookupError):
    """No procedure (or no such version) with that code."""


def problems(
    *,
    code: str,
    title_it: str,
    title_en: str,
    staff_categories: Sequence[str],
    window: Window,
    form: Mapping[str, Any],
) -> dict[str, str]:
    """What is wrong with a procedure definition, field by field (empty when it may be published)."""
    found: dict[str, str] = {}
    if not CODE.match(code or ""):
        found["code"] = "lower-case letters, digits, '-' and '_', at most 64"
    for name, title in (("title_it", title_it), ("title_en", title_en)):
        if not title or not title.strip() or len(title) > 200:
            found[name] = "required, at most 200 characters"
    if not staff_categories or any(c not in STAFF_CATEGORIES for c in staff_categories):
        found["staff_categories"] = f"one or more of {', '.join(STAFF_CATEGORIES)}"
    try:
        window.validate()
    except WindowError as exc:
        found["window"] = str(exc)
    form_problem = _form_problem(form)
    if form_problem:
        found["form"] = form_problem
    return found


def _form_problem(form: Mapping[str, Any]) -> str | None:
    sections = form.get("sections") if isinstance(form, Mapping) else None
    if not isinstance(sections, list) or not sections:
        return "a form needs at least one section"
    names: set[str] = set()
    for section in sections:
        if not isinstance(section, Mapping) or not section.get("id") or not section.get("fields"):
            return "every section needs an id and at least one field"
        for field in section["fields"]:
            if not isinstance(field, Mapping) or not field.get("name"):
                return f"a field of section {section['id']!r} has no name"
            if field.get("type") not in FIELD_TYPES:
                return f"field {field['name']!r}: type must be one of {', '.join(FIELD_TYPES)}"
            if field["name"] in names:
                return f"field {field['name']!r} appears twice"
            names.add(field["name"])
            if field["type"] == "choice" and not field.get("options"):
                return f"field {field['name']!r}: a choice needs options"
    return None


def define(
    session: Session,
    *,
    code: str,
    title_it: str,
    title_en: str,
    description_it: str,
    description_en: str,
    staff_categories: Sequence[str],
    opens_local: datetime,
    closes_local: datetime,
    form: Mapping[str, Any],
    time_zone: str = ROME,
    now: Clock = utc_now,
) -> Procedure:
    """A new draft version of the procedure `code` (version 1 when the code is new); refused if invalid."""
    window = Window(opens_local, closes_local, time_zone)
    found = problems(
        code=code,
        title_it=title_it,
        title_en=title_en,
        staff_categories=staff_categories,
        window=window,
        form=form,
    )
    if found:
        raise ProcedureError("the procedure is not valid", found)
    latest = session.scalar(select(func.max(Procedure.version)).where(Procedure.code == code)) or 0
    procedure = Procedure(
        code=code,
        version=latest + 1,
        status=DRAFT,
        title_it=title_it,
        title_en=title_en,
        description_it=description_it,
        description_en=description_en,
        staff_categories=list(staff_categories),
        opens_local=opens_local,
        closes_local=closes_local,
        time_zone=time_zone,
        form=dict(form),
        created_at=now(),
    )
    session.add(procedure)
    session.flush()
    return procedure


def publish(session: Session, *, code: str, version: int, now: Clock = utc_now) -> Procedure:
    """Publish one version (validated again); the previously published version of the code is retired."""
    procedure = session.scalar(select(Procedure).where(Procedure.code == code, Procedure.version == version))
    if procedure is None:
        raise UnknownProcedure(code)
    found = problems(
        code=procedure.code,
        title_it=procedure.title_it,
        title_en=procedure.title_en,
        staff_categories=procedure.staff_categories,
        window=procedure.window,
        form=procedure.form,
    )
    if found:
        raise ProcedureError("the procedure is not valid", found)
    for other in session.scalars(
        select(Procedure).where(
            Procedure.code == code, Procedure.status == PUBLISHED, Procedure.id != procedure.id
        )
    ):
        other.status = RETIRED
    procedure.status = PUBLISHED
    procedure.published_at = now()
    session.flush()
    return procedure


def published(session: Session, *, code: str) -> Procedure:
    """The published version of `code`, or UnknownProcedure."""
    procedure = session.scalar(select(Procedure).where(Procedure.code == code, Procedure.status == PUBLISHED))
    if procedure is None:
        raise UnknownProcedure(code)
    return procedure


def visible_to(session: Session, *, staff_category: str | None) -> list[Procedure]:
    """Published procedures a user of `staff_category` sees (D-IST-6), by opening time."""
    rows = session.scalars(
        select(Procedure).where(Procedure.status == PUBLISHED).order_by(Procedure.opens_local, Procedure.code)
    )
    return [p for p in rows if staff_category is not None and staff_category in p.staff_categories]
