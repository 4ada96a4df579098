"""The user's pages of Istanze OnLine (issue 15 items 2, 3, 4, 7, 9; D-IST-1/2/3/6), at /istanze/...:

- /istanze/                       the personal home: staff category, procedures open to it with their windows
                                  (Italian time) and time left, the user's applications, the archive, links
- /istanze/procedure/<code>       the form, rendered from the procedure's declarative definition, one section
                                  at a time (?sezione=<id>), saved section by section, resumable
- /istanze/procedure/<code>/riepilogo   the summary, then the personal code and "Inoltra" (one submission per
                                  click: an idempotency key in the form); read-only once submitted or closed
- /istanze/procedure/<code>/annulla     "annulla inoltro" with a confirmation

The deadline is the server's clock when the request arrives (D-IST-6); the views only call the service
functions (applications.service, submission, withdrawal, procedures.service, forms.validation).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request
from flask_babel import format_datetime, gettext, ngettext
from polis.auth import current_principal
from polis.rpc import RpcUnavailable
from sqlalchemy.orm import Session

from istanze.applications import service
from istanze.applications.models import DRAFT, PENDING, SUBMITTED, Application, Withdrawal
from istanze.applications.schools import SCHOOLS
from istanze.applications.submission import CodeRefused, submit
from istanze.applications.views import CHECKER
from istanze.applications.withdrawal import withdraw, withdrawals_of
from istanze.extensions import db
from istanze.forms.validation import FieldError, validate_section
from istanze.pages import page_permission
from istanze.procedures import service as procedures
from istanze.procedures.models import Procedure
from istanze.procedures.service import STAFF_CATEGORIES, utc_now
from istanze.receipts import service as receipts

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


def _posted_answers(fields: list[Mapping[str, Any]], stored: Mapping[str, Any]) -> dict[str, Any]:
    """The section's answers from the posted form, by the definition (names not in it are not read)."""
    answers: dict[str, Any] = {}
    for field in fields:
        name, kind = str(field["name"]), field["type"]
        if kind == "schools":
            rows = int(field.get("max_items", 20))
            chosen = [request.form.get(f"{name}-{n}", "").strip() for n in range(1, rows + 1)]
            answers[name] = [code for code in chosen if code]
        elif kind == "declaration":
            answers[name] = request.form.get(name, "")
        elif kind == "attachment":
            upload = request.files.get(name)
            content = upload.read() if upload is not None and upload.filename else b""
            if content:  # forms.validation checks it is a PDF within the limit, by its content
                encoded = base64.b64encode(content).decode("ascii")
                answers[name] = {"filename": upload.filename, "content_base64": encoded}  # type: ignore[union-attr]
            else:
                answers[name] = stored.get(name)  # no new file: the one kept stays
        else:
            answers[name] = request.form.get(name, "")
    return answers


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


# --- the personal home -------------------------------------------------------------------------------------


@blueprint.get("/")
@page_permission("istanze.read_own")
def home() -> Any:
    now, me = _now(), _me()
    with db.transaction() as session:
        category = service.category_of(session, account_id=me)
        visible = procedures.visible_to(session, staff_category=category)
        mine = service.applications_of(session, account_id=me)
        rows = []
        by_code = {a.procedure_code: a for a in mine}
        for procedure in visible:
            application = by_code.get(procedure.code)
            rows.append(
                {
                    "code": procedure.code,
                    "title": procedure.title_en if _language() == "en" else procedure.title_it,
                    "window": _window(procedure, now),
                    "state": _state_label(application, _withdrawn(session, application)),
                }
            )
        applications = []
        for application in mine:
            try:
                procedure = procedures.published(session, code=application.procedure_code)
            except procedures.UnknownProcedure:
                continue
            withdrawn = _withdrawn(session, application)
            title = procedure.title_en if _language() == "en" else procedure.title_it
            applications.append(
                {
                    "code": procedure.code,
                    "title": title,
                    "state": _state_label(application, withdrawn),
                    "updated": italian_time(application.updated_at),
                    "window": _window(procedure, now),
                }
            )
        archive = [
            {
                "id": str(r.id),
                "title": r.procedure_title,
                "number": r.number_text,
                "segnatura": r.segnatura,
                "submitted": italian_time(r.registered_at),
                "withdrawn": r.withdrawn_at is not None,
                "pending": r.sha256 is None,  # registered, the receipt being prepared: no link yet
                "receipt_url": f"{HOME}archivio/{r.id}/{r.filename}" if r.sha256 else None,
            }
            for r in receipts.archive_of(session, account_id=me)
        ]
    return render_template(
        "istanze/home.html",
        category=category,
        categories=category_labels(),
        procedures=rows,
        applications=applications,
        archive=archive,
        state_text=lambda s: STATE_TEXTS[s](),
        errors={},
        saved=request.args.get("categoria") == "salvata",
        service_functions=SERVICE_FUNCTIONS,
    )


@blueprint.post("/categoria")
@page_permission("istanze.read_own")
def declare_category() -> Any:
    chosen = request.form.get("staff_category", "")
    if chosen not in STAFF_CATEGORIES:
        return render_template(
            "istanze/category.html",
            categories=category_labels(),
            category=None,
            errors={"staff_category": gettext("Scegli una delle categorie dell'elenco.")},
        ), 400
    with db.transaction() as session:
        service.declare_category(session, account_id=_me(), staff_category=chosen, now=_now)
    return redirect(HOME + "?categoria=salvata", 303)


# --- the form, section by section --------------------------------------------------------------------------


def _open_for_me(session: Session, procedure: Procedure) -> bool:
    return service.category_of(session, account_id=_me()) in procedure.staff_categories


@blueprint.get("/procedure/<code>")
@page_permission("istanze.read_own")
def form(code: str) -> Any:
    now = _now()
    with db.transaction() as session:
        procedure = _published_or_404(session, code)
        if not _open_for_me(session, procedure):
            return _refusal("not_your_category", procedure, now, 403)
        application = service.application_of(session, account_id=_me(), code=code)
        if application is not None and application.state != DRAFT:
            return redirect(f"{HOME}procedure/{code}/riepilogo", 303)
        if not procedure.window.is_open(now):
            return redirect(f"{HOME}procedure/{code}/riepilogo", 303)
        answers = dict(application.answers) if application is not None else {}
        return _section_page(procedure, now, request.args.get("sezione"), answers, {}, None)


def _section_page(
    procedure: Procedure,
    now: datetime,
    section_id: str | None,
    answers: Mapping[str, Any],
    errors: Mapping[str, str],
    posted: Mapping[str, Any] | None,
    *,
    saved: bool = False,
) -> str:
    sections = _sections(procedure)
    ids = [str(s["id"]) for s in sections]
    if section_id is None:
        section_id = ids[0]
    if section_id not in ids:
        abort(404)
    index = ids.index(section_id)
    section = sections[index]
    values = dict(posted if posted is not None else answers.get(section_id, {}))
    fields = list(section["fields"])
    rows = {}
    for field in fields:
        if field["type"] == "schools":
            chosen = list(values.get(field["name"]) or [])
            limit = int(field.get("max_items", 20))
            rows[field["name"]] = chosen + [""] * (min(limit, len(chosen) + EXTRA_SCHOOL_ROWS) - len(chosen))
    kept = {
        f["name"]: bool(answers.get(section_id, {}).get(f["name"]))
        for f in fields
        if f["type"] == "attachment"
    }
    return render_template(
        "istanze/form.html",
        section=section,
        index=index,
        fields=fields,
        values=values,
        school_rows=rows,
        attachments_kept=kept,
        errors=dict(errors),
        error_ids=_field_ids(fields),
        labels={str(f["name"]): field_label(f) for f in fields},
        next_id=ids[index + 1] if index + 1 < len(ids) else None,
        previous_id=ids[index - 1] if index > 0 else None,
        saved=saved or request.args.get("salvata") == "1",
        **_context(procedure, now),
    )


@blueprint.post("/procedure/<code>/sezione/<section_id>")
@page_permission("istanze.submit")
def save(code: str, section_id: str) -> Any:
    now = _now()
    with db.transaction() as session:
        procedure = _published_or_404(session, code)
        try:
            fields = list(next(s for s in _sections(procedure) if s["id"] == section_id)["fields"])
        except StopIteration:
            abort(404)
        application = service.application_of(session, account_id=_me(), code=code)
        stored = dict(application.answers.get(section_id, {})) if application is not None else {}
        answers = _posted_answers(fields, stored)
        try:
            service.save_section(
                session, account_id=_me(), code=code, section=section_id, answers=answers, now=lambda: now
            )
        except service.NotAllowed as exc:
            if exc.reason == "not_a_draft":
                return redirect(f"{HOME}procedure/{code}/riepilogo", 303)
            return _refusal(exc.reason, procedure, now, 403)
        except service.SectionInvalid as exc:
            current = dict(application.answers) if application is not None else {}
            shown = {k: v for k, v in answers.items() if not isinstance(v, Mapping | type(None))}
            page = _section_page(procedure, now, section_id, current, _field_errors(exc.errors), shown)
            return page, 400
    ids = [str(s["id"]) for s in _sections(procedure)]
    following = ids.index(section_id) + 1
    if request.form.get("azione") == "resta":
        target = f"{HOME}procedure/{code}?sezione={section_id}&salvata=1"
    elif following < len(ids):
        target = f"{HOME}procedure/{code}?sezione={ids[following]}&salvata=1"
    else:
        target = f"{HOME}procedure/{code}/riepilogo"
    return redirect(target, 303)


# --- summary, submission, withdrawal ------------------------------------------------------------------------


def _summary(
    session: Session,
    procedure: Procedure,
    application: Application | None,
    withdrawn: list[Withdrawal],
    now: datetime,
    *,
    errors: Mapping[str, str] | None = None,
    notice: str | None = None,
) -> str:
    answers = dict(application.answers) if application is not None else {}
    current = (
        receipts.current_receipt(session, application_id=application.id)
        if application is not None and application.state == SUBMITTED
        else None
    )
    return render_template(
        "istanze/summary.html",
        receipt_url=f"{HOME}archivio/{current.id}/{current.filename}" if current and current.sha256 else None,
        application=application,
        answers=answers,
        state=_state_label(application, withdrawn),
        withdrawn=[
            {
                "number": f"{w.protocol_number:07d}",
                "segnatura": w.segnatura,
                "withdrawn": italian_time(w.withdrawn_at),
            }
            for w in withdrawn
        ],
        submitted_at=italian_time(application.submitted_at)
        if application and application.submitted_at
        else "",
        number=f"{application.protocol_number:07d}" if application and application.protocol_number else "",
        incomplete=_incomplete(procedure, answers) if application is not None else {},
        errors=dict(errors or {}),
        notice=notice or request.args.get("esito"),
        key=secrets.token_urlsafe(24),  # this page's "Inoltra": the same key again is the same submission
        **_context(procedure, now),
    )


@blueprint.get("/procedure/<code>/riepilogo")
@page_permission("istanze.read_own")
def summary(code: str) -> Any:
    now = _now()
    with db.transaction() as session:
        procedure = _published_or_404(session, code)
        application = service.application_of(session, account_id=_me(), code=code)
        if application is None and not _open_for_me(session, procedure):
            return _refusal("not_your_category", procedure, now, 403)
        return _summary(session, procedure, application, _withdrawn(session, application), now)


@blueprint.post("/procedure/<code>/inoltro")
@page_permission("istanze.submit")
def send(code: str) -> Any:
    arrived_at = _now()  # D-IST-6: the deadline is the server's clock when the request arrives
    personal_code, key = request.form.get("personal_code", ""), request.form.get("key", "")
    config = current_app.config
    with db.transaction() as session:
        procedure = _published_or_404(session, code)
    errors: dict[str, str] = {}
    status = 400
    if not personal_code:
        errors["personal_code"] = gettext("Scrivi il tuo codice personale.")
    elif len(personal_code) > 64:
        errors["personal_code"] = gettext("Il codice personale non è corretto.")
    if not 8 <= len(key) <= 64:
        errors["_form"] = gettext("La pagina non è valida: riaprila e inoltra di nuovo.")
    if not errors:
        try:
            submit(
                db,
                account_id=_me(),
                code=code,
                personal_code=personal_code,
                key=key,
                check_code=current_app.extensions[CHECKER],
                arrived_at=arrived_at,
                administration=config["PROTOCOL_ADMINISTRATION_CODE"],
                aoo=config["PROTOCOL_AOO_CODE"],
                register=config["PROTOCOL_REGISTER"],
                applicant=_applicant(),
            )
            return redirect(f"{HOME}procedure/{code}/riepilogo?esito=inoltrata", 303)
        except service.NotAllowed as exc:
            if exc.reason == "no_draft":
                return redirect(f"{HOME}procedure/{code}", 303)
            if exc.reason == "not_a_draft":
                return redirect(f"{HOME}procedure/{code}/riepilogo?esito=gia-inoltrata", 303)
            if exc.reason == "not_your_category":
                return _refusal(exc.reason, procedure, arrived_at, 403)
            errors, status = {"_form": gettext("Il termine per l'inoltro è scaduto.")}, 403
        except service.SectionInvalid:
            errors = {"_form": gettext("La domanda non è completa: completa le sezioni indicate.")}
        except CodeRefused as refused:
            if refused.status == "not_enabled":
                return redirect(ENABLEMENT, 303)  # D-IST-2: only enabled accounts submit
            if refused.status == "must_change":
                return redirect(MANDATORY_CHANGE, 303)
            if refused.status == "locked":
                seconds = int(refused.retry_after or 60)
                errors = {
                    "personal_code": gettext(
                        "Troppi codici errati: riprova tra %(seconds)s secondi.", seconds=seconds
                    )
                }
                status = 429
            else:
                errors = {
                    "personal_code": gettext(
                        "Il codice personale non è corretto: la domanda non è stata inoltrata ed è rimasta"
                        " in bozza."
                    )
                }
        except RpcUnavailable:
            errors = {
                "_form": gettext(
                    "Servizio momentaneamente non disponibile: la domanda non è stata inoltrata."
                )
            }
            status = 503
    with db.transaction() as session:
        application = service.application_of(session, account_id=_me(), code=code)
        return _summary(
            session, procedure, application, _withdrawn(session, application), arrived_at, errors=errors
        ), status


@blueprint.get("/procedure/<code>/annulla")
@page_permission("istanze.read_own")
def withdraw_form(code: str) -> Any:
    now = _now()
    with db.transaction() as session:
        procedure = _published_or_404(session, code)
        application = service.application_of(session, account_id=_me(), code=code)
        if application is None or application.state != SUBMITTED:
            return redirect(f"{HOME}procedure/{code}/riepilogo", 303)
        return render_template(
            "istanze/withdraw.html",
            number=f"{application.protocol_number:07d}",
            segnatura=application.segnatura,
            errors={},
            **_context(procedure, now),
        )


@blueprint.post("/procedure/<code>/annulla")
@page_permission("istanze.submit")
def withdraw_submission(code: str) -> Any:
    arrived_at = _now()
    with db.transaction() as session:
        procedure = _published_or_404(session, code)
    if request.form.get("confirm") != "y":
        return redirect(f"{HOME}procedure/{code}/riepilogo", 303)
    try:
        with db.transaction() as session:
            withdraw(session, account_id=_me(), code=code, arrived_at=arrived_at)
    except service.NotAllowed as exc:
        with db.transaction() as session:
            application = service.application_of(session, account_id=_me(), code=code)
            if exc.reason == "window_closed":
                errors = {"_form": gettext("Il termine è scaduto: l'inoltro non può più essere annullato.")}
                withdrawn = _withdrawn(session, application)
                page = _summary(session, procedure, application, withdrawn, arrived_at, errors=errors)
                return page, 403
        return redirect(f"{HOME}procedure/{code}/riepilogo", 303)
    return redirect(f"{HOME}procedure/{code}/riepilogo?esito=annullata", 303)


# --- the archive -------------------------------------------------------------------------------------------


@blueprint.get("/archivio/<receipt_id>/<filename>")
@page_permission("istanze.read_own")
def receipt(receipt_id: str, filename: str) -> Any:
    """A receipt of the user's archive, as filed (PDF/A); another user's or an unknown one is a 404."""
    try:
        wanted = uuid.UUID(receipt_id)
    except ValueError:
        abort(404)
    with db.transaction() as session:
        found = receipts.receipt_of(session, account_id=_me(), receipt_id=wanted)
        if found is None or found.filename != filename:
            abort(404)
        if found.content is None:  # being prepared: the summary says so, and the link appears when filed
            return redirect(f"{HOME}procedure/{found.procedure_code}/riepilogo", 303)
        content, name = bytes(found.content), found.filename
    return Response(
        content,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )
