"""What Istanze OnLine's pages share: the blueprint, the clock, how a procedure, its window and the answers
are shown, and the guarded step every procedure page starts with (the published procedure or 404, the
user's application, the server's time when the request arrived; D-IST-6)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, render_template
from flask_babel import format_datetime, gettext, ngettext
from polis.auth import current_principal
from sqlalchemy.orm import Session

from istanze.applications import service
from istanze.applications.models import PENDING, SUBMITTED, Application, Withdrawal
from istanze.applications.schools import SCHOOLS
from istanze.applications.withdrawal import withdrawals_of
from istanze.extensions import db
from istanze.forms.validation import FieldError, validate_section
from istanze.procedures import service as procedures
from istanze.procedures.models import Procedure
from istanze.procedures.service import utc_now

blueprint = Blueprint("istanze_pages", __name__, url_prefix="/istanze", template_folder="../templates")
CLOCK = "istanze.clock"  # app.extensions[CLOCK]: the pages' clock, when a test sets one
HOME = "/istanze/"
SERVICE_FUNCTIONS = "/abilitazione/servizio"
ENABLEMENT = "/abilitazione/"
MANDATORY_CHANGE = "/abilitazione/cambia-codice"
EXTRA_SCHOOL_ROWS = 3  # empty choices shown after the schools already chosen

# --- small helpers ---------------------------------------------------------------------------------------


def _me() -> uuid.UUID:
    return uuid.UUID(current_principal().subject)


def _applicant() -> str | None:
    """The user's name for the receipt, as IAM's token says it (None when it does not)."""
    claims = current_principal().claims
    name = claims.get("name") or " ".join(
        str(claims[part]) for part in ("given_name", "family_name") if claims.get(part)
    )
    return str(name) or None


def _now() -> datetime:
    clock = current_app.extensions.get(CLOCK, utc_now)
    return clock()


def _language() -> str:
    from flask_babel import get_locale

    return "en" if str(get_locale() or "it").startswith("en") else "it"


def _text(item: Mapping[str, Any], name: str, default: str = "") -> str:
    """The Italian or English text `name_it`/`name_en` of a definition item."""
    language = _language()
    return str(item.get(f"{name}_{language}") or item.get(f"{name}_it") or default)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite reads back naive


def italian_time(moment: datetime) -> str:
    """A moment as Italian wall-clock time, e.g. "31 ottobre 2027, 14:00" (the zone is Europe/Rome)."""
    return format_datetime(_aware(moment), "d MMMM y, HH:mm")


def time_left(seconds: int) -> str:
    """Whole days and hours left, or hours and minutes on the last day."""
    left = timedelta(seconds=seconds)
    days, hours, minutes = left.days, left.seconds // 3600, (left.seconds % 3600) // 60
    if days:
        return gettext(
            "%(days)s e %(hours)s",
            days=ngettext("%(num)d giorno", "%(num)d giorni", days),
            hours=ngettext("%(num)d ora", "%(num)d ore", hours),
        )
    if hours:
        return gettext(
            "%(hours)s e %(minutes)s",
            hours=ngettext("%(num)d ora", "%(num)d ore", hours),
            minutes=ngettext("%(num)d minuto", "%(num)d minuti", minutes),
        )
    return ngettext("%(num)d minuto", "%(num)d minuti", max(minutes, 1))


def category_labels() -> dict[str, str]:
    return {
        "docenti": gettext("Personale docente"),
        "ata": gettext("Personale ATA"),
        "dirigenti_scolastici": gettext("Dirigenti scolastici"),
        "educatori": gettext("Personale educativo"),
    }


def _window(procedure: Procedure, now: datetime) -> dict[str, Any]:
    window = procedure.window
    state = window.state(now)
    return {
        "state": state,
        "opens": italian_time(window.opens_at()),
        "closes": italian_time(window.closes_at()),
        "left": time_left(window.seconds_left(now)) if state == "open" else None,
    }


def _published_or_404(session: Session, code: str) -> Procedure:
    try:
        return procedures.published(session, code=code)
    except procedures.UnknownProcedure:
        abort(404)


def _withdrawn(session: Session, application: Application | None) -> list[Withdrawal]:
    return withdrawals_of(session, application_id=application.id) if application is not None else []


def _state_label(application: Application | None, withdrawn: list[Withdrawal]) -> str:
    if application is None:
        return "nuova"
    if application.state == SUBMITTED:
        return "inoltrata"
    if application.state == PENDING:
        return "protocollata"  # registered with its number, the receipt being prepared
    return "annullata" if withdrawn else "bozza"


STATE_TEXTS = {
    "nuova": lambda: gettext("Non compilata"),
    "bozza": lambda: gettext("Bozza"),
    "inoltrata": lambda: gettext("Inoltrata"),
    "protocollata": lambda: gettext("Protocollata, ricevuta in preparazione"),
    "annullata": lambda: gettext("Annullata (inoltro annullato)"),
}


# --- the form definition, as the templates show it ---------------------------------------------------------


def field_label(field: Mapping[str, Any]) -> str:
    if field["type"] == "schools" and not field.get("label_it"):
        return gettext("Sedi richieste, in ordine di preferenza")
    return _text(field, "label", str(field["name"]))


def field_help(field: Mapping[str, Any]) -> str | None:
    kind = field["type"]
    own = _text(field, "help") or None
    if kind == "schools":
        return gettext(
            "Fino a %(limit)s sedi dall'elenco delle scuole, la prima è la preferita.",
            limit=int(field.get("max_items", 20)),
        )
    if kind == "attachment":
        kilobytes = int(field.get("max_bytes", 2 * 1024 * 1024)) // 1024
        return gettext("Facoltativo. Solo file PDF, al massimo %(size)s KB.", size=kilobytes)
    if kind == "date":
        return own or gettext("Nel formato AAAA-MM-GG.")
    return own


def choice_options(field: Mapping[str, Any]) -> list[tuple[str, str]]:
    labels = field.get(f"option_labels_{_language()}") or field.get("option_labels_it") or {}
    return [(str(option), str(labels.get(option, option))) for option in field["options"]]


def school_options() -> list[tuple[str, str]]:
    return [(code, f"{name} ({code})") for code, name in SCHOOLS.items()]


def shown_value(field: Mapping[str, Any], value: Any) -> str:
    """An answer as the summary shows it."""
    kind = field["type"]
    if value is None or value == "" or value == []:
        return "—"
    if kind == "schools":
        return "; ".join(f"{n}. {SCHOOLS.get(c, c)} ({c})" for n, c in enumerate(value, start=1))
    if kind == "declaration":
        return gettext("Dichiarato")
    if kind == "choice":
        return dict(choice_options(field)).get(str(value), str(value))
    if kind == "attachment":
        if isinstance(value, Mapping) and value.get("filename"):
            kilobytes = max(1, int(value.get("size", 0)) // 1024)
            return gettext("%(name)s (PDF, %(size)s KB)", name=value["filename"], size=kilobytes)
        return gettext("File PDF allegato")
    return str(value)


def _field_errors(errors: Mapping[str, FieldError]) -> dict[str, str]:
    language = _language()
    return {name: error.message(language) for name, error in errors.items()}


def _field_ids(fields: list[Mapping[str, Any]]) -> dict[str, str]:
    """Where the error summary's links lead: a schools list's first choice."""
    return {str(f["name"]): f"{f['name']}-1" for f in fields if f["type"] == "schools"}


def _sections(procedure: Procedure) -> list[Mapping[str, Any]]:
    return list(procedure.form["sections"])


def _incomplete(procedure: Procedure, answers: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Per section id, what is still missing or wrong (validated by the same definition)."""
    found: dict[str, dict[str, str]] = {}
    for section in _sections(procedure):
        _, errors = validate_section(
            procedure.form, section["id"], answers.get(section["id"], {}), schools=SCHOOLS
        )
        if errors:
            found[section["id"]] = _field_errors(errors)
    return found


def _context(procedure: Procedure, now: datetime) -> dict[str, Any]:
    return {
        "procedure": procedure,
        "title": _text({"title_it": procedure.title_it, "title_en": procedure.title_en}, "title"),
        "description": _text(
            {"description_it": procedure.description_it, "description_en": procedure.description_en},
            "description",
        ),
        "window": _window(procedure, now),
        "sections": _sections(procedure),
        "section_title": lambda s: _text(s, "title", str(s["id"])),
        "section_titles": [_text(s, "title", str(s["id"])) for s in _sections(procedure)],
        "field_label": field_label,
        "field_help": field_help,
        "choice_options": choice_options,
        "school_options": school_options(),
        "shown_value": shown_value,
        "state_text": lambda s: STATE_TEXTS[s](),
        "italian_time": italian_time,
    }


def _refusal(reason: str, procedure: Procedure, now: datetime, status: int) -> tuple[str, int]:
    return render_template("istanze/refused.html", reason=reason, **_context(procedure, now)), status


# --- the guarded step --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A procedure page's request: when it arrived, its transaction, the procedure, the user's application."""

    now: datetime
    session: Session
    procedure: Procedure
    application: Application | None


@contextmanager
def guarded_step(code: str) -> Iterator[Step]:
    """One transaction on the published procedure `code` (or 404) and the user's application."""
    now = _now()  # D-IST-6: the deadline is the server's clock when the request arrives
    with db.transaction() as session:
        procedure = _published_or_404(session, code)
        application = service.application_of(session, account_id=_me(), code=code)
        yield Step(now, session, procedure, application)


def published(code: str) -> Procedure:
    """The published procedure `code` (404 when there is none), read in a transaction of its own."""
    with db.transaction() as session:
        return _published_or_404(session, code)


def open_for_me(session: Session, procedure: Procedure) -> bool:
    return service.category_of(session, account_id=_me()) in procedure.staff_categories
