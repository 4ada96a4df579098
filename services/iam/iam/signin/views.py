"""IAM's sign-in pages (the login page, the unlock link of the email, the forced password change) and the
ops unlock: thin views over login.py, unlock.py and sessions.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext
from polis.errors import NotFound
from polis.web import api_doc
from werkzeug.wrappers.response import Response

from iam.accounts.models import AccountState
from iam.audit.origin import current_origin
from iam.extensions import db
from iam.oidc import authorization
from iam.ops import ops_actor, ops_required
from iam.personal_area.language import in_language
from iam.signin import forced_change, form_page, login, sessions
from iam.signin import unlock as unlock_links
from iam.signin.login import LoginPolicy, Outcome

LOGIN_POLICY = "iam.login_policy"
AREA_RISERVATA = "/iam/area-riservata"

# IAM's HTML pages of this area, protected by CSRF tokens like every other form.
pages = Blueprint("signin", __name__)
ops = Blueprint("signin_ops", __name__, url_prefix="/api/iam/v1/ops")


def login_policy() -> LoginPolicy:
    return current_app.extensions[LOGIN_POLICY]  # type: ignore[no-any-return]


# --- the pages: login, unlock link, forced change ----------------------------------------------------------


@pages.route("/iam/accedi", methods=["GET", "POST"])
def login_page() -> ResponseReturnValue:
    next_path = sessions.safe_next(request.values.get("next"))
    if request.method == "GET":
        current = sessions.signed_in()
        if current is not None and current.account.state == AccountState.ACTIVE.value and next_path != "/":
            return redirect(next_path)
        return form_page.login_form_page(next_path=next_path, min_length=_min_length())

    username = request.form.get("username", "")
    password = request.form.get("password", "")
    errors = _login_form_errors(username, password)
    if errors:
        return render_page("signin/login.html", next=next_path, username=username[:64], errors=errors), 400
    result = login.authenticate(
        db=db, policy=login_policy(), username=username, password=password, origin=current_origin()
    )
    if result.outcome in (Outcome.SUCCEEDED, Outcome.MUST_CHANGE_PASSWORD):
        if result.outcome is Outcome.SUCCEEDED:
            target = next_path if next_path != "/" else AREA_RISERVATA
        else:
            target = f"{sessions.CHANGE_PASSWORD_PATH}?{urlencode({'next': next_path})}"
        # The pages follow the account's preferred language from now on (issue 13 item 7).
        switched = in_language(result.language, target)
        answer: Response | None = None
        if result.outcome is Outcome.SUCCEEDED and switched == target:
            answer = _continue_authorization(next_path, result)
        if answer is None:
            answer = redirect(switched, 303)
        return sessions.set_cookie(answer, result.sso_token or "")
    status = 403 if result.outcome in (Outcome.DISABLED, Outcome.REVOKED) else 401
    return (
        render_page(
            "signin/login.html",
            next=next_path,
            username=username[:64],
            errors={},
            outcome=result.outcome.value,
            locked_until=_local_time(result.locked_until),
        ),
        status,
    )


@pages.route("/iam/accedi/sblocca/<token>", methods=["GET", "POST"])
def unlock_page(token: str) -> ResponseReturnValue:
    """The unlock link of the email (issue 11 item 5): a click first, so that a mail scanner fetching the
    link unlocks nothing; the page is never stored (it carries the token)."""
    policy = login_policy().unlock
    private = {"Cache-Control": "no-store"}
    if request.method == "GET":
        if not unlock_links.link_usable(db=db, policy=policy, token=token):
            return render_page("signin/unlock_failed.html"), 400, private
        return render_page("signin/unlock.html", token=token), 200, private
    try:
        unlock_links.unlock_with_link(db=db, policy=policy, token=token, origin=current_origin())
    except unlock_links.InvalidUnlockLink:
        return render_page("signin/unlock_failed.html"), 400, private
    return render_page("signin/unlocked.html"), 200, private


def login_form(next_path: str) -> ResponseReturnValue:
    """The login form that continues the authorization request `next_path` (GET /oidc/authorize shows it
    in its own answer, issue 18); never stored: it carries the form's CSRF token."""
    page = form_page.login_form_page(next_path=next_path, min_length=_min_length())
    return page, 200, {"Cache-Control": "no-store"}


def _continue_authorization(next_path: str, result: login.LoginResult) -> Response | None:
    """After a login whose `next` is an authorization request: the endpoint's answer for the new session
    (the code for the client's redirect URI, an error, or the consent page), as GET /oidc/authorize would
    give it, without sending the browser there first. None when `next` is something else."""
    authorization_request = authorization.request_for(next_path)
    if authorization_request is None:
        return None
    current = result.signed_in  # the session just opened, and the account as the login wrote it

    def to_endpoint(*_: object) -> ResponseReturnValue:
        # A request the new session is not enough for, or one refused before its client is known: the
        # endpoint itself answers it, as before issue 18 (the login form again, or its error page).
        return redirect(next_path, 303)

    answer = current_app.make_response(
        authorization.respond(authorization_request, current, sign_in=to_endpoint, refused_here=to_endpoint)
    )
    if answer.status_code == 302:
        answer.status_code = 303  # the answer to a POST: the browser follows it with a GET
    return answer


def _login_form_errors(username: str, password: str) -> dict[str, str]:
    errors = {}
    if not username.strip():
        errors["username"] = "missing"
    elif len(username) > login.MAX_USERNAME:
        errors["username"] = "too_long"
    if not password:
        errors["password"] = "missing"  # noqa: S105 - an error code
    elif len(password) > login.MAX_PASSWORD:
        errors["password"] = "too_long"  # noqa: S105 - an error code
    return errors


def _local_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    from zoneinfo import ZoneInfo

    if moment.year >= 9999:
        return "ops"  # locked at the ceiling: until the emailed unlock link or ops lift it
    return moment.astimezone(ZoneInfo("Europe/Rome")).strftime("%H:%M")


@pages.route("/iam/cambio-password", methods=["GET", "POST"])
def change_password_page() -> ResponseReturnValue:
    next_path = sessions.safe_next(request.values.get("next"))
    account = sessions.current_account()
    if account is None:
        return redirect(sessions.login_url(request.full_path))
    if account.state != AccountState.MUST_CHANGE_PASSWORD.value:
        return redirect(next_path if next_path != "/" else AREA_RISERVATA)
    if request.method == "GET":
        return render_page("signin/change_password.html", next=next_path, errors={})
    new_password = request.form.get("new_password", "")
    confirmation = request.form.get("confirm_password", "")
    errors: dict[str, list[str]] = {}
    if not new_password:
        errors["new_password"] = [gettext("Inserisci la nuova password.")]
    elif new_password != confirmation:
        errors["confirm_password"] = [gettext("Le due password non coincidono.")]
    if not errors:
        try:
            token_value = forced_change.change_forced_password(
                db=db,
                policy=login_policy(),
                account_id=account.id,
                new_password=new_password,
                origin=current_origin(),
            )
        except forced_change.PasswordRefused as refused:
            errors["new_password"] = [_problem_message(code) for code in refused.problems]
        else:
            target = next_path if next_path != "/" else AREA_RISERVATA
            return sessions.set_cookie(redirect(target, 303), token_value)
    return render_page("signin/change_password.html", next=next_path, errors=errors), 400


def _problem_message(code: str) -> str:
    if code == forced_change.TEMPORARY_PASSWORD_REUSED:
        return gettext("Non puoi usare la password temporanea come password definitiva: scegline una tua.")
    if code == forced_change.NOT_REQUIRED:
        return gettext("Non è richiesto il cambio della password.")
    try:
        from iam.passwords.policy import PasswordProblem

        return PasswordProblem(code).message(str(get_locale() or "it"), min_length=_min_length())
    except (ImportError, ValueError):
        return gettext("La password non è accettabile: scegline un'altra.")


def _min_length() -> int:
    return int(current_app.config.get("PASSWORD_MIN_LENGTH", login.MIN_PASSWORD_FALLBACK))


# --- ops -----------------------------------------------------------------------------------------------


@ops.post("/accounts/<uuid:account_id>/unlock")
@api_doc("Lift the brute-force lock of an account (audited)", status=204, errors=(401, 404), tags=("ops",))
@ops_required
def unlock(account_id: uuid.UUID) -> ResponseReturnValue:
    if not login.unlock(db=db, account_id=account_id, origin=current_origin(), actor=ops_actor()):
        raise NotFound()
    return "", 204


# --- rendering -----------------------------------------------------------------------------------------


def render_page(template: str, **context: Any) -> str:
    """Render a sign-in page (they extend iam/page.html, the shared Polis layout)."""
    return render_template(template, min_length=_min_length(), **context)
