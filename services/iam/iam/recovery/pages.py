"""The recovery pages: /iam/recupero-username (D-ACC-5) and /iam/password-dimenticata (D-ACC-6).

After a valid form both show one confirmation page, the same whether or not anything matched; the only
other answer is the MI guidance of D-ACC-2, shown when username and codice fiscale match an MI account.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, render_template, request
from polis.errors import ValidationFailed

from iam.audit.origin import current_origin
from iam.captcha.current import current_adapter
from iam.extensions import db
from iam.recovery import service
from iam.recovery.messages import messages
from iam.recovery.policy import policy
from iam.registration import codice_fiscale as cf

blueprint = Blueprint("recovery_pages", __name__, url_prefix="/iam")
USERNAME = re.compile(r"^[A-Za-z0-9.]{1,64}$")


def register_recovery_pages(app: Flask) -> None:
    app.register_blueprint(blueprint)


def _form(*names: str) -> dict[str, str]:
    return {name: request.form.get(name, "").strip()[:4096] for name in names}


def _check(values: dict[str, str]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if "codice_fiscale" in values:
        # Format and check character, as registration checks them: a mistyped code would get "Richiesta
        # ricevuta" and then nothing, and saying so reveals nothing about accounts (issue 13 item 5).
        values["codice_fiscale"] = cf.normalise(values["codice_fiscale"])
        problem = cf.problem(values["codice_fiscale"]) if values["codice_fiscale"] else "required"
        if problem:
            errors["codice_fiscale"] = [problem]
    if "username" in values and not USERNAME.match(values["username"]):
        errors["username"] = ["required" if not values["username"] else "username_format"]
    return errors


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("values", {})
    context.setdefault("errors", {})
    return render_template(template, **context), status


@blueprint.route("/recupero-username", methods=["GET", "POST"])
def username_forgotten() -> tuple[str, int]:
    if request.method == "GET":
        return _page("recovery/username.html")
    values = _form("codice_fiscale")
    errors = _check(values)
    if not errors:
        try:
            service.request_username_reminder(
                db=db,
                captcha=current_adapter(),
                captcha_response=request.form.get("captcha", ""),
                codice_fiscale=values["codice_fiscale"],
                origin=current_origin(),
            )
        except ValidationFailed as failed:
            errors = failed.fields
        else:
            return _page("recovery/done.html", kind="username")
    return _page("recovery/username.html", 400, values=values, errors=messages(errors))


@blueprint.route("/password-dimenticata", methods=["GET", "POST"])
def password_forgotten() -> tuple[str, int]:
    if request.method == "GET":
        return _page("recovery/password.html")
    values = _form("username", "codice_fiscale")
    errors = _check(values)
    if not errors:
        try:
            service.request_temporary_password(
                db=db,
                policy=policy(),
                captcha=current_adapter(),
                captcha_response=request.form.get("captcha", ""),
                username=values["username"],
                codice_fiscale=values["codice_fiscale"],
                origin=current_origin(),
            )
        except service.InstitutionalAccountRefused:
            return _page("recovery/institutional.html", 409)
        except ValidationFailed as failed:
            errors = failed.fields
        else:
            return _page(
                "recovery/done.html",
                kind="password",
                ttl=int(policy().temporary_password_ttl.total_seconds() // 60),
            )
    return _page("recovery/password.html", 400, values=values, errors=messages(errors))
