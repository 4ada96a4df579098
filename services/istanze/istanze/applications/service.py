"""Declaring the staff category and saving drafts section by section (D-IST-2, D-IST-6); no Flask here."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from istanze.applications.models import DRAFT, Application, StaffProfile
from istanze.applications.schools import SCHOOLS
from istanze.forms.validation import FieldError, validate_section
from istanze.procedures import service as procedures
from istanze.procedures.service import STAFF_CATEGORIES, utc_now

Clock = Callable[[], datetime]


class NotAllowed(PermissionError):
    """The user may not act on this procedure now: `reason` is not_your_category, window_closed, ...

    For window_closed, `opens_at`/`closes_at` are the window's bounds (aware, Europe/Rome) and `message()`
    says them in Italian time (D-IST-1: the window shown when nothing can be done)."""

    def __init__(
        self, reason: str, *, opens_at: datetime | None = None, closes_at: datetime | None = None
    ) -> None:
        super().__init__(reason)
        self.reason, self.opens_at, self.closes_at = reason, opens_at, closes_at

    def message(self, language: str = "it") -> str:
        italian, english = REFUSALS.get(self.reason, REFUSALS["default"])
        if self.reason == "window_closed" and self.opens_at and self.closes_at:
            window = {
                "opens": self.opens_at.strftime("%d/%m/%Y %H:%M"),
                "closes": self.closes_at.strftime("%d/%m/%Y %H:%M"),
            }
            italian = italian + " La procedura è aperta dal {opens} al {closes} (ora italiana)."
            english = english + " The procedure is open from {opens} to {closes} (Italian time)."
            return (english if language == "en" else italian).format(**window)
        return english if language == "en" else italian


REFUSALS = {
    "window_closed": (
        "Fuori dai termini: l'istanza non può essere compilata, inoltrata o annullata ora.",
        "Outside the window: the application cannot be filled in, submitted or withdrawn now.",
    ),
    "not_your_category": (
        "La procedura non è prevista per la tua categoria di personale.",
        "This procedure is not for your staff category.",
    ),
    "not_a_draft": (
        "L'istanza è già inoltrata: per modificarla annulla prima l'inoltro.",
        "The application is already submitted: withdraw it first to change it.",
    ),
    "no_draft": ("Non c'è nessuna istanza da inoltrare.", "There is no application to submit."),
    "receipt_pending": (
        "L'istanza è protocollata e la ricevuta è in preparazione: riprova tra qualche istante.",
        "The application is registered and its receipt is being prepared: try again in a moment.",
    ),
    "not_submitted": ("L'istanza non risulta inoltrata.", "The application is not submitted."),
    "default": ("Operazione non consentita.", "Not allowed."),
}


def closed_reason(procedure: Any, at: datetime) -> NotAllowed:
    """The refusal outside `procedure`'s window, with the window to show in Italian time."""
    window = procedure.window
    return NotAllowed("window_closed", opens_at=window.opens_at(), closes_at=window.closes_at())


class SectionInvalid(ValueError):
    """Some answers of the section are wrong: nothing was saved."""

    def __init__(self, errors: Mapping[str, FieldError]) -> None:
        super().__init__("section not valid")
        self.errors = dict(errors)


def declare_category(
    session: Session, *, account_id: uuid.UUID, staff_category: str, now: Clock = utc_now
) -> None:
    """Record the user's declared staff category (D-IST-6): it decides which procedures they see."""
    if staff_category not in STAFF_CATEGORIES:
        raise ValueError(staff_category)
    profile = session.get(StaffProfile, account_id)
    if profile is None:
        session.add(StaffProfile(account_id=account_id, staff_category=staff_category, updated_at=now()))
    else:
        profile.staff_category, profile.updated_at = staff_category, now()
    session.flush()


def category_of(session: Session, *, account_id: uuid.UUID) -> str | None:
    profile = session.get(StaffProfile, account_id)
    return profile.staff_category if profile else None


def application_of(session: Session, *, account_id: uuid.UUID, code: str) -> Application | None:
    return session.scalar(
        select(Application).where(Application.account_id == account_id, Application.procedure_code == code)
    )


def applications_of(session: Session, *, account_id: uuid.UUID) -> list[Application]:
    """The user's applications (any state), most recently changed first."""
    return list(
        session.scalars(
            select(Application)
            .where(Application.account_id == account_id)
            .order_by(Application.updated_at.desc())
        )
    )


def save_section(
    session: Session,
    *,
    account_id: uuid.UUID,
    code: str,
    section: str,
    answers: Mapping[str, Any],
    now: Clock = utc_now,
) -> Application:
    """Validate one section and keep it in the user's one draft of `code`, created on first save."""
    procedure = procedures.published(session, code=code)  # UnknownProcedure
    if category_of(session, account_id=account_id) not in procedure.staff_categories:
        raise NotAllowed("not_your_category")
    at = now()
    if not procedure.window.is_open(at):  # D-IST-1: outside the window nothing can be created
        raise closed_reason(procedure, at)
    cleaned, errors = validate_section(procedure.form, section, answers, schools=SCHOOLS)  # KeyError
    if errors:
        raise SectionInvalid(errors)
    application = application_of(session, account_id=account_id, code=code)
    if application is None:
        application = Application(
            account_id=account_id, procedure_code=code, state=DRAFT, answers={}, created_at=at, updated_at=at
        )
        session.add(application)
    elif application.state != DRAFT:
        raise NotAllowed("not_a_draft")
    # A new dict, so the JSON column sees the change.
    application.answers = {**application.answers, section: cleaned}
    application.updated_at = at
    session.flush()
    return application
