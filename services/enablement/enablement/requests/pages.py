"""The enablement pages (through the gateway at /abilitazione/): the D-ENA-1 entry, the request (D-ENA-2),
the receipt link, and the operators' console (D-ENA-3, D-ENA-10). Thin: parse the form, call the service,
render; a problem shows next to its field in the user's language and changes nothing."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request
from polis.auth import current_principal
from polis.errors import ApiError, Forbidden, NotFound, ValidationFailed

from enablement.accounts import service as accounts
from enablement.audit.service import current_origin
from enablement.extensions import db
from enablement.offices import service as offices
from enablement.pages import page_permission
from enablement.pages.messages import message, messages
from enablement.permissions import PERMISSIONS
from enablement.requests import identification, service
from enablement.requests.models import CONFIRMED, DOCUMENT_TYPES, REJECTED
from enablement.requests.views import _policy

blueprint = Blueprint("enablement_pages", __name__, url_prefix="/abilitazione")
CF = re.compile(r"^[A-Za-z0-9]{16}$")
DOCUMENT_NUMBER = re.compile(r"^[A-Za-z0-9]{4,20}$")
SERVICE_FUNCTIONS = "/abilitazione/servizio"


def _me() -> uuid.UUID:
    return uuid.UUID(current_principal().subject)


@blueprint.get("/")
@page_permission("enablement.read_own")
def entry() -> Any:
    """D-ENA-1 (the portal's landing after "Accedi"): not enabled -> the procedure; temporary code in place
    -> the mandatory change (D-ENA-4); enabled -> the personal home of Istanze OnLine (ISTANZE_HOME_URL)."""
    with db.transaction() as session:
        state = service.status(session, _me())
        account = accounts.get(session, _me())
        personal = None
        if account is not None:
            personal = {
                "first_name": account.first_name,
                "last_name": account.last_name,
                "email": account.reference_address(),
                "username": account.username,
            }
    if state["state"] == "must_change":
        return redirect("/abilitazione/cambia-codice", 303)
    if state["state"] == "enabled":
        return redirect(current_app.config["ISTANZE_HOME_URL"], 303)
    if state["state"] == "pending":
        return render_template("enablement/pending.html", request_=state["request"])
    return render_template(
        "enablement/request.html", personal=personal, previous=state.get("request"), errors={}, values={}
    )


@blueprint.post("/richiesta")
@page_permission("enablement.request")
def start() -> Any:
    values = {"codice_fiscale": request.form.get("codice_fiscale", "").strip()}
    errors: dict[str, list[str]] = {}
    if not values["codice_fiscale"]:
        errors["codice_fiscale"] = ["required"]
    elif not CF.match(values["codice_fiscale"]):
        errors["codice_fiscale"] = ["cf_format"]
    if request.form.get("data_confirmed") != "y":
        errors["data_confirmed"] = ["not_confirmed"]
    if not errors:
        try:
            service.start(
                db=db,
                policy=_policy(),
                account_id=_me(),
                codice_fiscale=values["codice_fiscale"],
                origin=current_origin(),
            )
            return redirect("/abilitazione/", 303)
        except service.AlreadyEnabled:
            return redirect("/abilitazione/", 303)
    with db.transaction() as session:
        account = accounts.get(session, _me())
        personal = {
            "first_name": account.first_name if account else "",
            "last_name": account.last_name if account else "",
            "email": account.reference_address() if account else "",
            "username": account.username if account else "",
        }
    return render_template(
        "enablement/request.html", personal=personal, previous=None, errors=messages(errors), values=values
    ), 400


@blueprint.get("/modulo.pdf")
@page_permission("enablement.read_own")
def form_pdf() -> Response:
    with db.transaction() as session:
        current = service.current_request(session, _me())
        if current is None or current.state != "pending":
            raise NotFound()
        account = accounts.get(session, _me())
        pdf = service.form_pdf(session, current, account.username if account else None)
        filename = f"modulo-adesione-{current.number}.pdf"
    return Response(
        pdf, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@blueprint.get("/ricevuta")
def receipt() -> str:
    """The link of the email (D-ENA-2): a button confirms, so that a mail scanner's visit changes nothing."""
    return render_template("enablement/receipt.html", token=request.args.get("token", ""), done=None)


@blueprint.post("/ricevuta")
def confirm_receipt() -> Any:
    try:
        confirmed = service.confirm_receipt(db=db, policy=_policy(), token=request.form.get("token", ""))
    except service.InvalidLink:
        return render_template(
            "enablement/receipt.html", token="", done=False, problem=message("invalid_link")
        ), 400
    return render_template("enablement/receipt.html", token="", done=True, number=confirmed.number)


# --- operators' console (D-ENA-3, D-ENA-10) -----------------------------------------------------------


@blueprint.get("/operatore")
@page_permission("enablement.identify")
def console() -> Any:
    with db.transaction() as session:
        mine = [(str(o.id), f"{o.name} ({o.code})") for o in offices.offices_of(session, _me())]
    if not mine:
        raise Forbidden()
    query = request.args.get("q", "").strip()
    if not query:
        return render_template("enablement/console.html", offices=mine, query="", found=None, errors={})
    number = query if query.upper().strip("*").startswith("ENA-") else None
    if number is None and not CF.match(query):
        return render_template(
            "enablement/console.html",
            offices=mine,
            query=query,
            found=None,
            errors={"q": [message("not_found")]},
        ), 404
    try:
        found = identification.find_pending(
            db=db, operator_id=_me(), number=number, codice_fiscale=None if number else query
        )
    except NotFound:
        return render_template(
            "enablement/console.html",
            offices=mine,
            query=query,
            found=None,
            errors={"q": [message("not_found")]},
        ), 404
    return _identify_page(found, mine, query=query, values={}, errors={})


@blueprint.app_template_global()
def may_assign_operators() -> bool:
    """Whether the signed-in user may manage offices and operators (D-ENA-10): the console links there."""
    try:
        return PERMISSIONS["enablement.assign"].allows(current_principal())
    except RuntimeError:  # no principal on this request (a public page)
        return False


def _identify_page(
    found: Any, mine: list[tuple[str, str]], *, query: str, values: dict[str, str], errors: dict[str, Any]
) -> str:
    return render_template(
        "enablement/console.html",
        offices=mine,
        query=query,
        found=found,
        document_types=[(t, t) for t in DOCUMENT_TYPES],
        values=values,
        errors=errors,
    )


def _parse_date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


@blueprint.post("/operatore/richieste/<uuid:request_id>")
@page_permission("enablement.identify")
def identify(request_id: uuid.UUID) -> Any:
    form = request.form
    values = {key: form.get(key, "").strip() for key in form if key != "csrf_token"}
    outcome = REJECTED if form.get("outcome") == "reject" else CONFIRMED
    errors: dict[str, list[str]] = {}
    try:
        office_id = uuid.UUID(values.get("office_id", ""))
    except ValueError:
        office_id = None
        errors["office_id"] = ["choose"]
    document = None
    if outcome == CONFIRMED:
        if values.get("document_type") not in DOCUMENT_TYPES:
            errors["document_type"] = ["choose"]
        if not DOCUMENT_NUMBER.match(values.get("document_number", "")):
            errors["document_number"] = ["document_format"]
        if len(values.get("document_issuer", "")) < 2:
            errors["document_issuer"] = ["required"]
        issued = _parse_date(values.get("document_issued_on", ""))
        expires = _parse_date(values.get("document_expires_on", ""))
        if issued is None:
            errors["document_issued_on"] = ["date_format"]
        if expires is None:
            errors["document_expires_on"] = ["date_format"]
        if form.get("form_signed") != "y":
            errors["form_signed"] = ["form_not_signed"]
        if not errors and issued and expires:
            document = identification.Document(
                type=values["document_type"],
                number=values["document_number"].upper(),
                issuer=values["document_issuer"],
                issued_on=issued,
                expires_on=expires,
            )
    elif len(values.get("reason", "")) < 3:
        errors["reason"] = ["required"]
    if not errors and office_id is not None:
        try:
            identification.identify(
                db=db,
                operator_id=_me(),
                request_id=request_id,
                office_id=office_id,
                outcome=outcome,
                document=document,
                form_signed=form.get("form_signed") == "y",
                reason=values.get("reason") or None,
                origin=current_origin(),
            )
            return render_template("enablement/identified.html", outcome=outcome)
        except ValidationFailed as failed:
            errors = failed.fields
        except Forbidden as refused:
            errors = {"_form": ["own_request" if "own request" in refused.message else "not_your_office"]}
        except ApiError:
            errors = {"_form": ["not_found"]}
    with db.transaction() as session:
        mine = [(str(o.id), f"{o.name} ({o.code})") for o in offices.offices_of(session, _me())]
    try:
        found = identification.find_pending(db=db, operator_id=_me(), number=values.get("number"))
    except (NotFound, ValidationFailed):
        return render_template(
            "enablement/console.html",
            offices=mine,
            query="",
            found=None,
            errors={"q": [message("not_found")]},
        ), 404
    return _identify_page(
        found, mine, query=values.get("number", ""), values=values, errors=messages(errors)
    ), 400
