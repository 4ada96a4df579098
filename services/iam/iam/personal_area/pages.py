"""Area Riservata pages (D-ACC-7, D-ACC-8): personal data, personal email, password, language.

Every page but the email verification needs IAM's session (`login_required`); the verification link works
from any browser (the link is the proof) and asks for a click first, so that a mail scanner fetching the
link verifies nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, flash, g, make_response, redirect, render_template, request
from flask_babel import force_locale, gettext
from polis.errors import ValidationFailed

from iam.audit.origin import current_origin
from iam.extensions import db
from iam.personal_area import service
from iam.personal_area.language import in_language
from iam.personal_area.views import keep_this_browser_signed_in, policy
from iam.recovery.messages import messages
from iam.signin.sessions import login_required

blueprint = Blueprint("personal_area_pages", __name__, url_prefix="/iam/area-riservata")
LANGUAGE_NAMES = {"it": "Italiano", "en": "English"}


def register_personal_area_pages(app: Flask) -> None:
    app.register_blueprint(blueprint)


@blueprint.after_request
def personal_pages_are_never_stored(response: Response) -> Response:
    """The Area Riservata shows personal data (codice fiscale, addresses): no cache keeps a copy, and the
    browser's back button after logout does not show it from its cache (issue 11 item 6)."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("values", {})
    context.setdefault("errors", {})
    context.setdefault("account", g.get("account"))
    context.setdefault("language_names", LANGUAGE_NAMES)
    return render_template(template, **context), status


@blueprint.get("")
@login_required
def personal_data() -> tuple[str, int]:
    return _page("personal_area/index.html")


@blueprint.post("/lingua")
@login_required
def change_language() -> Response | tuple[str, int]:
    language = request.form.get("language", "")
    try:
        service.change_language(db=db, account_id=g.account.id, language=language, origin=current_origin())
    except ValidationFailed as failed:
        return _page("personal_area/index.html", 400, errors=messages(failed.fields))
    with force_locale(language):  # said in the language the pages now follow
        flash(gettext("Lingua preferita aggiornata."), "success")
    return make_response(redirect(in_language(language, "/iam/area-riservata"), code=303))


@blueprint.route("/email", methods=["GET", "POST"])
@login_required
def change_email() -> Response | tuple[str, int]:
    if request.method == "GET":
        return _page("personal_area/email.html")
    email = request.form.get("email", "").strip()
    errors: dict[str, list[str]] = {}
    if not email:
        errors["email"] = ["required"]
    elif len(email) > 254 or "@" not in email or " " in email or "." not in email.rsplit("@", 1)[-1]:
        errors["email"] = ["email_invalid"]
    if not errors:
        try:
            service.request_email_change(
                db=db, policy=policy(), account_id=g.account.id, email=email, origin=current_origin()
            )
        except ValidationFailed as failed:
            errors = failed.fields
        else:
            flash(
                gettext(
                    "Ti abbiamo inviato un link a %(email)s: il nuovo indirizzo vale quando lo apri.",
                    email=email,
                ),
                "info",
            )
            return make_response(redirect("/iam/area-riservata", code=303))
    return _page("personal_area/email.html", 400, values={"email": email}, errors=messages(errors))


@blueprint.route("/email/verifica/<token>", methods=["GET", "POST"])
def verify_email(token: str) -> tuple[str, int]:
    if request.method == "GET":
        if not service.verification_link_usable(db=db, token=token):  # used or expired: no button to press
            return _page("personal_area/verify_failed.html", 400)
        return _page("personal_area/verify.html", token=token)
    try:
        account = service.verify_email_change(db=db, token=token, origin=current_origin())
    except service.InvalidVerificationLink:
        return _page("personal_area/verify_failed.html", 400)
    return _page("personal_area/verified.html", email=account.personal_email)


@blueprint.route("/password", methods=["GET", "POST"])
@login_required
def change_password() -> Response | tuple[str, int]:
    area_policy = policy()
    if request.method == "GET":
        return _page("personal_area/password.html", min_length=area_policy.password_min_length)
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    errors: dict[str, list[str]] = {}
    for name, value in (("current_password", current), ("new_password", new)):
        if not value:
            errors[name] = ["required"]
        elif len(value) > 1024:
            errors[name] = ["too_long"]
    if not errors and new != request.form.get("confirm_password", ""):
        errors["confirm_password"] = ["passwords_differ"]
    if not errors:
        try:
            account = service.change_password(
                db=db,
                policy=area_policy,
                account_id=g.account.id,
                current_password=current,
                new_password=new,
                origin=current_origin(),
            )
        except ValidationFailed as failed:
            errors = failed.fields
        else:
            flash(
                gettext("Password cambiata. Le altre sessioni aperte con il tuo account sono state chiuse."),
                "success",
            )
            return keep_this_browser_signed_in(
                make_response(redirect("/iam/area-riservata", code=303)), account
            )
    return _page(
        "personal_area/password.html",
        400,
        errors=messages(errors, min_length=area_policy.password_min_length),
        min_length=area_policy.password_min_length,
    )
