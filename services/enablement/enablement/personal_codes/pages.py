"""Funzioni di servizio (through the gateway at /abilitazione/...): change the personal code (and the
mandatory first change, D-ENA-4, D-ENA-6), recovery (D-ENA-5), regeneration with a clear warning (D-ENA-7).
When IAM cannot be asked (RPC unavailable) the page says so and keeps what was typed (except codes)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request
from polis.auth import current_principal
from polis.errors import ServiceUnavailable, ValidationFailed

from enablement.audit.service import current_origin
from enablement.extensions import db
from enablement.pages import page_permission
from enablement.pages.messages import message, messages
from enablement.personal_codes import service as codes
from enablement.personal_codes.models import MUST_CHANGE
from enablement.requests import service as requests
from enablement.requests.models import CONFIRMED
from enablement.requests.views import IAM, _policy

blueprint = Blueprint("personal_code_pages", __name__, url_prefix="/abilitazione")
CF = re.compile(r"^[A-Za-z0-9]{16}$")


def _me() -> uuid.UUID:
    return uuid.UUID(current_principal().subject)


@blueprint.get("/servizio")
@page_permission("enablement.read_own")
def service_functions() -> Any:
    with db.transaction() as session:
        state = codes.status_of(session, _me())
    if state == MUST_CHANGE:
        return redirect("/abilitazione/cambia-codice", 303)
    return render_template("enablement/service.html", enabled=state in ("active",))


@blueprint.get("/cambia-codice")
@page_permission("enablement.request")
def change_form() -> Any:
    with db.transaction() as session:
        forced = codes.status_of(session, _me()) == MUST_CHANGE
    return render_template("enablement/change.html", forced=forced, errors={}, done=False)


@blueprint.post("/cambia-codice")
@page_permission("enablement.request")
def change() -> Any:
    current, new, again = (request.form.get(k, "") for k in ("current_code", "new_code", "new_code_again"))
    policy = _policy().codes
    errors: dict[str, list[str]] = {}
    if not current:
        errors["current_code"] = ["required"]
    if not new:
        errors["new_code"] = ["required"]
    elif new != again:
        errors["new_code_again"] = ["code_differs"]
    status = 400
    if not errors:
        try:
            codes.change(
                db=db,
                policy=policy,
                iam=current_app.extensions[IAM],
                account_id=_me(),
                current_code=current,
                new_code=new,
                origin=current_origin(),
            )
            return render_template("enablement/change.html", forced=False, errors={}, done=True)
        except ValidationFailed as failed:
            errors = failed.fields
        except codes.WrongPersonalCode:
            errors = {"current_code": ["wrong_personal_code"]}
        except codes.PersonalCodeLocked as locked:
            errors = {"current_code": ["personal_code_locked"]}
            seconds = locked.fields.get("retry_after", 60)
            return _change_page(errors, seconds=seconds), 429
        except ServiceUnavailable:  # IAM could not be asked (polis.rpc's RpcUnavailable): typed input kept
            errors, status = {"_form": ["service_unavailable"]}, 503
    return _change_page(errors, seconds=0), status


def _change_page(errors: dict[str, list[str]], *, seconds: int) -> str:
    with db.transaction() as session:
        forced = codes.status_of(session, _me()) == MUST_CHANGE
    shown = messages(errors, min=_policy().codes.min_length, seconds=seconds)
    return render_template("enablement/change.html", forced=forced, errors=shown, done=False)


@blueprint.get("/recupero-codice")
@page_permission("enablement.request")
def recover_form() -> str:
    return render_template("enablement/recover.html", errors={}, values={}, done=False)


@blueprint.post("/recupero-codice")
@page_permission("enablement.request")
def recover() -> Any:
    values = {"codice_fiscale": request.form.get("codice_fiscale", "").strip()}
    answer = request.form.get("security_answer", "")
    errors: dict[str, list[str]] = {}
    if not CF.match(values["codice_fiscale"]):
        errors["codice_fiscale"] = ["cf_format"]
    if not answer:
        errors["security_answer"] = ["required"]
    status = 400
    if not errors:
        with db.transaction() as session:
            current = requests.current_request(session, _me())
            confirmed = current.codice_fiscale if current is not None and current.state == CONFIRMED else None
        try:
            codes.recover(
                db=db,
                policy=_policy().codes,
                iam=current_app.extensions[IAM],
                account_id=_me(),
                codice_fiscale=values["codice_fiscale"],
                answer=answer,
                confirmed_codice_fiscale=confirmed,
                origin=current_origin(),
            )
            return render_template("enablement/recover.html", errors={}, values={}, done=True)
        except codes.RecoveryLocked:
            errors, status = {"_form": ["recovery_locked"]}, 429
        except codes.RecoveryRefused:
            errors = {"security_answer": ["recovery_refused"]}
        except ServiceUnavailable:  # IAM could not be asked (polis.rpc's RpcUnavailable): typed input kept
            errors, status = {"_form": ["service_unavailable"]}, 503
    return render_template(
        "enablement/recover.html", errors=messages(errors), values=values, done=False
    ), status


@blueprint.get("/rigenera-codice")
@page_permission("enablement.request")
def regenerate_form() -> str:
    return render_template("enablement/regenerate.html", errors={}, done=False)


@blueprint.post("/rigenera-codice")
@page_permission("enablement.request")
def regenerate() -> Any:
    if request.form.get("understood") != "y":
        errors = {"understood": [message("not_confirmed")]}
        return render_template("enablement/regenerate.html", errors=errors, done=False), 400
    requests.regenerate(db=db, policy=_policy(), account_id=_me(), origin=current_origin())
    return render_template("enablement/regenerate.html", errors={}, done=True)
