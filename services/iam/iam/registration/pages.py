"""The registration pages (/iam/registrazione/...): one form per step, then the confirmation link's page.

Thin like the API views: read the form, call the same service functions, render the step again with the
messages next to their fields (in the page's language) or go on to the next step. The registration is found
by the `iam_registration` cookie, so a user can leave and come back to the step they reached.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, redirect, render_template, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from marshmallow import Schema
from polis.errors import ValidationFailed
from polis.web import load
from werkzeug.wrappers import Response as BaseResponse

from iam.audit.origin import current_origin
from iam.extensions import db
from iam.registration import confirmation, service
from iam.registration.errors import (
    InvalidRegistrationLink,
    RegistrationInvalid,
    RegistrationNotFound,
    StepNotReached,
)
from iam.registration.messages import message
from iam.registration.schemas import (
    ActivationSchema,
    ContactsSchema,
    RegistrationPersonalDataSchema,
    SecurityQuestionSchema,
    StartSchema,
)
from iam.registration.views import (
    clear_registration_cookie,
    policy,
    registration_token,
    set_registration_cookie,
)

blueprint = Blueprint("registration_pages", __name__, url_prefix="/iam/registrazione")
BASE = "/iam/registrazione"

STEP_TITLES = (
    _l("Codice fiscale"),
    _l("Dati anagrafici"),
    _l("Recapiti"),
    _l("Domanda di sicurezza"),
    _l("Riepilogo"),
)

# What a field that the schema refused (missing, malformed, too long) gets on a page: the schema's own
# messages are English and technical.
FIELD_MESSAGES = {
    "codice_fiscale": _l("Inserisci il codice fiscale (16 caratteri)."),
    "captcha": _l("Completa la verifica di sicurezza."),
    "last_name": _l(
        "Inserisci il cognome: solo lettere, spazi, apostrofi e trattini (al massimo 100 caratteri)."
    ),
    "first_name": _l(
        "Inserisci il nome: solo lettere, spazi, apostrofi e trattini (al massimo 100 caratteri)."
    ),
    "birth_date": _l("Inserisci la data di nascita (gg/mm/aaaa)."),
    "sex": _l("Indica il sesso."),
    "birth_place": _l("Inserisci il comune o lo Stato estero di nascita."),
    "personal_email": _l("Inserisci un indirizzo email valido, ad esempio nome@example.it."),
    "question": _l("Scrivi una domanda di almeno 5 caratteri (al massimo 200)."),
    "answer": _l("Scrivi una risposta di almeno 3 caratteri (al massimo 100)."),
    "password": _l("Inserisci la password."),
    "password_confirmation": _l("Ripeti la password."),
}


def register_registration_pages(app: Flask) -> None:
    app.register_blueprint(blueprint)


def language() -> str:
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "it"


def _form(*names: str) -> dict[str, str]:
    # Only the fields of this step (no csrf_token, no button); an empty field counts as missing.
    return {name: request.form[name].strip() for name in names if request.form.get(name, "").strip()}


def _errors(exc: Exception) -> dict[str, list[str]]:
    """Messages per field in the page's language, from a service or schema refusal."""
    if isinstance(exc, RegistrationInvalid):
        min_length = policy().password_min_length
        return {
            name: [message(code, language(), min_length=min_length) for code in codes]
            for name, codes in exc.problems.items()
        }
    if isinstance(exc, ValidationFailed):
        return {name: [str(FIELD_MESSAGES.get(name, _l("Valore non valido.")))] for name in exc.fields}
    raise exc


def _load(schema: Schema, data: dict[str, Any]) -> Any:
    return load(schema, data)


def _step(
    number: int, template: str, *, registration: Any = None, errors: Any = None, values: Any = None
) -> str:
    return render_template(
        template,
        step=number,
        steps=[str(title) for title in STEP_TITLES],
        # Steps already done stay marked done when the user goes back (issue 13 item 3).
        completed=registration.completed_step if registration is not None else 0,
        registration=registration,
        errors=errors or {},
        values=values or {},
    )


def _current() -> Any:
    try:
        return service.current(db=db, token=registration_token())
    except RegistrationNotFound:
        return None


def _restart() -> BaseResponse:
    """Back to step 1: saying it expired only to a browser that had one (a fresh visit just starts)."""
    expired = registration_token() is not None
    response = redirect(f"{BASE}/step1?scaduta=1" if expired else f"{BASE}/step1")
    clear_registration_cookie(response)
    return response


def _go(step: int) -> BaseResponse:
    return redirect(f"{BASE}/step{step}")


@blueprint.get("")
@blueprint.get("/")
def entry() -> BaseResponse:
    registration = _current()
    return _go(registration.next_step if registration is not None else 1)


@blueprint.route("/step1", methods=["GET", "POST"])
def step1() -> Any:
    # Back at step 1 with a registration in progress: its codice fiscale is shown, and going on with it
    # keeps everything given in the later steps (issue 13 item 3).
    registration = _current()
    if request.method == "GET":
        values: dict[str, Any] = {"expired": request.args.get("scaduta") == "1"}
        if registration is not None:
            values["codice_fiscale"] = registration.codice_fiscale
        return _step(1, "registration/step1.html", registration=registration, values=values)
    values = _form("codice_fiscale")
    captcha = request.form.get("captcha") or request.form.get("g-recaptcha-response") or ""
    if registration is not None and not captcha:
        captcha = "-"  # only checked if the codice fiscale changes: the schema needs a value
    try:
        data = _load(StartSchema(), {**values, "captcha": captcha, "language": language()})
        started = service.start(
            db=db, policy=policy(), origin=current_origin(), token=registration_token(), **data
        )
    except (ValidationFailed, RegistrationInvalid) as exc:
        return (
            _step(
                1, "registration/step1.html", registration=registration, errors=_errors(exc), values=values
            ),
            400,
        )
    response = _go(2)
    set_registration_cookie(response, started.token)
    return response


def _step_view(number: int, template: str, schema: Schema, names: tuple[str, ...], submit: Any) -> Any:
    registration = _current()
    if registration is None:
        return _restart()
    if registration.completed_step < number - 1:
        return _go(registration.next_step)
    if request.method == "GET":
        return _step(number, template, registration=registration, values=_values(registration, names))
    values = _form(*names)
    back = request.form.get("direction") == "back"
    try:
        data = _load(schema, values)
        submit(data)
    except (ValidationFailed, RegistrationInvalid) as exc:
        if back:  # "Indietro" with a form not valid yet: what was typed waits for the user's return
            return _back_with_draft(number, values)
        return _step(number, template, registration=registration, errors=_errors(exc), values=values), 400
    except (RegistrationNotFound, StepNotReached):
        return _restart()
    return _go(number - 1 if back else number + 1)


def _back_with_draft(number: int, values: dict[str, str]) -> BaseResponse:
    draft = {("birth_place_name" if name == "birth_place" else name): value for name, value in values.items()}
    if "question" in draft:
        draft["security_question"] = draft.pop("question")
    try:
        service.keep_draft(db=db, policy=policy(), token=registration_token(), step=number, values=draft)
    except (RegistrationNotFound, StepNotReached):
        return _restart()
    return _go(number - 1)


def _values(registration: Any, names: tuple[str, ...]) -> dict[str, Any]:
    # Going back to a step shows what was given (never the answer: only its hash exists).
    known = {
        "last_name": registration.last_name,
        "first_name": registration.first_name,
        "birth_date": registration.birth_date.isoformat() if registration.birth_date else None,
        "sex": registration.sex,
        "birth_place": registration.birth_place_name,
        "personal_email": registration.personal_email,
        "question": registration.security_question,
    }
    return {name: known.get(name) for name in names if known.get(name)}


@blueprint.route("/step2", methods=["GET", "POST"])
def step2() -> Any:
    def submit(data: dict[str, Any]) -> None:
        service.submit_personal_data(
            db=db, policy=policy(), token=registration_token(), origin=current_origin(), **data
        )

    names = ("last_name", "first_name", "birth_date", "sex", "birth_place")
    return _step_view(2, "registration/step2.html", RegistrationPersonalDataSchema(), names, submit)


@blueprint.route("/step3", methods=["GET", "POST"])
def step3() -> Any:
    def submit(data: dict[str, Any]) -> None:
        service.submit_contacts(
            db=db, policy=policy(), token=registration_token(), origin=current_origin(), **data
        )

    return _step_view(3, "registration/step3.html", ContactsSchema(), ("personal_email",), submit)


@blueprint.route("/step4", methods=["GET", "POST"])
def step4() -> Any:
    def submit(data: dict[str, Any]) -> None:
        service.submit_security_question(
            db=db, policy=policy(), token=registration_token(), origin=current_origin(), **data
        )

    return _step_view(4, "registration/step4.html", SecurityQuestionSchema(), ("question", "answer"), submit)


@blueprint.route("/step5", methods=["GET", "POST"])
def step5() -> Any:
    registration = _current()
    if registration is None:
        return _restart()
    if registration.completed_step < 4:
        return _go(registration.next_step)
    if request.method == "GET":
        return _step(5, "registration/step5.html", registration=registration)
    try:
        service.submit(
            db=db,
            policy=policy(),
            token=registration_token(),
            consent=request.form.get("consent") == "y",
            origin=current_origin(),
        )
    except RegistrationInvalid as exc:
        return _step(5, "registration/step5.html", registration=registration, errors=_errors(exc)), 400
    except (RegistrationNotFound, StepNotReached):
        return _restart()
    # The same page whether or not the codice fiscale already had an account (D-ACC-3).
    response = redirect(f"{BASE}/inviata")
    clear_registration_cookie(response)
    return response


@blueprint.get("/inviata")
def submitted() -> str:
    return render_template("registration/submitted.html")


def _confirm_page(link: Any, token: str, errors: dict[str, list[str]]) -> str:
    return render_template(
        "registration/confirm.html",
        link=link,
        token=token,
        errors=errors,
        password_min_length=policy().password_min_length,
    )


@blueprint.route("/conferma/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Any:
    try:
        link = confirmation.check_link(db=db, policy=policy(), token=token)
    except InvalidRegistrationLink:
        return render_template("registration/link_invalid.html"), 400
    if request.method == "GET":
        return _confirm_page(link, token, {})
    values = {
        "token": token,
        "password": request.form.get("password", ""),
        "password_confirmation": request.form.get("password_confirmation", ""),
    }
    try:
        data = _load(
            ActivationSchema(), {k: v for k, v in values.items() if v or k == "password_confirmation"}
        )
        account = confirmation.activate(
            db=db, policy=policy(), origin=current_origin(), language=language(), **data
        )
    except (ValidationFailed, RegistrationInvalid) as exc:
        return _confirm_page(link, token, _errors(exc)), 400
    except InvalidRegistrationLink:
        return render_template("registration/link_invalid.html"), 400
    response = Response(render_template("registration/activated.html", username=account.username))
    return response
