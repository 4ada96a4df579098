"""The summary, the submission and its withdrawal (issue 15 items 4, 7; D-IST-1/2/6), /istanze/procedure/...:

- riepilogo   the summary, then the personal code and "Inoltra" (one submission per click: an idempotency key
              in the form); read-only once submitted or closed
- inoltro     the submission
- annulla     "annulla inoltro" with a confirmation
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import current_app, redirect, render_template, request
from flask_babel import gettext
from polis.rpc import RpcUnavailable
from sqlalchemy.orm import Session

from istanze.applications import service
from istanze.applications.models import SUBMITTED, Application, Withdrawal
from istanze.applications.submission import CodeRefused, submit
from istanze.applications.views import CHECKER
from istanze.applications.withdrawal import withdraw
from istanze.extensions import db
from istanze.pages import page_permission
from istanze.pages.common import (
    ENABLEMENT,
    HOME,
    MANDATORY_CHANGE,
    _applicant,
    _context,
    _incomplete,
    _me,
    _now,
    _refusal,
    _state_label,
    _withdrawn,
    blueprint,
    guarded_step,
    italian_time,
    open_for_me,
    published,
)
from istanze.procedures.models import Procedure
from istanze.receipts import service as receipts


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
    with guarded_step(code) as step:
        session, procedure, application = step.session, step.procedure, step.application
        if application is None and not open_for_me(session, procedure):
            return _refusal("not_your_category", procedure, step.now, 403)
        return _summary(session, procedure, application, _withdrawn(session, application), step.now)


@blueprint.post("/procedure/<code>/inoltro")
@page_permission("istanze.submit")
def send(code: str) -> Any:
    arrived_at = _now()  # D-IST-6: the deadline is the server's clock when the request arrives
    personal_code, key = request.form.get("personal_code", ""), request.form.get("key", "")
    config = current_app.config
    procedure = published(code)
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
    with guarded_step(code) as step:
        application = step.application
        if application is None or application.state != SUBMITTED:
            return redirect(f"{HOME}procedure/{code}/riepilogo", 303)
        return render_template(
            "istanze/withdraw.html",
            number=f"{application.protocol_number:07d}",
            segnatura=application.segnatura,
            errors={},
            **_context(step.procedure, step.now),
        )


@blueprint.post("/procedure/<code>/annulla")
@page_permission("istanze.submit")
def withdraw_submission(code: str) -> Any:
    arrived_at = _now()
    procedure = published(code)
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
