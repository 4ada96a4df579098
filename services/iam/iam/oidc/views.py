"""The OpenID Connect endpoints, IAM's login page and the forced password change: thin views over the
service functions in login.py, provider.py and sessions.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext
from polis.errors import NotFound
from polis.web import api_doc

from iam.accounts.models import AccountState
from iam.audit.origin import current_origin
from iam.extensions import db
from iam.oidc import clients, keys, login, provider, sessions
from iam.oidc.cli import register_cli
from iam.oidc.login import LoginPolicy, Outcome
from iam.oidc.txn import write_transaction
from iam.ops import ops_actor, ops_required

LOGIN_POLICY = "iam.login_policy"

# OAuth endpoints: machine-to-machine or redirect-only, no CSRF token (PKCE and state protect them).
protocol = Blueprint("oidc", __name__)
# IAM's HTML pages of this area, protected by CSRF tokens like every other form.
pages = Blueprint("oidc_pages", __name__)
ops = Blueprint("oidc_ops", __name__, url_prefix="/api/iam/v1/ops")

AREA_RISERVATA = "/iam/area-riservata"


def register_oidc(app: Flask) -> None:
    # The in-process caches belong to one database: a new app (tests) starts with empty ones.
    keys.forget_cached()
    clients.forget_cached()
    sessions.register_sessions(app)
    app.extensions[LOGIN_POLICY] = LoginPolicy.from_settings(app.config)
    provider.build_server(app)
    app.register_blueprint(protocol)
    app.register_blueprint(pages)
    app.register_blueprint(ops)
    register_cli(app)
    # CSRF: iam.pages exempts /oidc/ and /api/ (their own protocol checks protect them).


def login_policy() -> LoginPolicy:
    return current_app.extensions[LOGIN_POLICY]  # type: ignore[no-any-return]


# --- discovery, keys, authorize, token, userinfo, logout ------------------------------------------------


@protocol.get("/.well-known/openid-configuration")
def discovery() -> ResponseReturnValue:
    response = jsonify(provider.discovery())
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


@protocol.get("/oidc/jwks")
def jwks() -> ResponseReturnValue:
    response = jsonify(keys.public_jwks(db))
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


@protocol.get("/oidc/authorize")
def authorize() -> ResponseReturnValue:
    server = provider.server()
    current = sessions.signed_in()
    user = None
    if current is not None and current.account.state == AccountState.ACTIVE.value:
        auth_time = int(sessions.as_utc(current.session.created_at).timestamp())
        user = provider.User.of(current.account, current.session.id, auth_time)
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        if error.redirect_uri:  # the redirect URI is the client's own, checked: the error goes back there
            return server.handle_error_response(request, error)
        return _authorize_error(error)
    here = request.full_path
    if current is not None and current.account.state == AccountState.MUST_CHANGE_PASSWORD.value:
        return redirect(f"{sessions.CHANGE_PASSWORD_PATH}?{urlencode({'next': here})}")
    if user is None:  # prompt=login and max_age come with issue 5
        return redirect(sessions.login_url(here))
    return server.create_authorization_response(grant=grant, grant_user=user)


def _authorize_error(error: OAuth2Error) -> ResponseReturnValue:
    # Before the redirect URI is known to be the client's, the error is shown here, never redirected.
    return (
        render_page(
            "oidc/error.html",
            error_code=error.error,
            description=error.get_error_description() if hasattr(error, "get_error_description") else None,
        ),
        400,
    )


@protocol.post("/oidc/token")
def token() -> ResponseReturnValue:
    return provider.server().create_token_response()


@protocol.route("/oidc/userinfo", methods=["GET", "POST"])
def userinfo() -> ResponseReturnValue:
    return provider.server().create_endpoint_response("userinfo")


@protocol.route("/oidc/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """RP-initiated logout: end the SSO session; go back to the client only to a URI it registered."""
    values = request.values
    target = values.get("post_logout_redirect_uri")
    hint = provider.decode_id_token_hint(values.get("id_token_hint", ""))
    redirect_to = None
    if target and hint is not None:
        audiences = hint.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        client_id = values.get("client_id") or (audiences[0] if audiences else None)
        client = provider.query_client(str(client_id)) if client_id in audiences else None
        if client is not None and target in client.post_logout_redirect_uris:
            state = values.get("state")
            redirect_to = target + (
                ("&" if urlsplit(target).query else "?") + urlencode({"state": state}) if state else ""
            )
    token_value = request.cookies.get(sessions.COOKIE)
    if token_value:
        with write_transaction(db) as session:
            sessions.end_session(session, token=token_value)
    response = (
        redirect(redirect_to, code=302)
        if redirect_to
        else current_app.make_response(render_page("oidc/logged_out.html"))
    )
    return sessions.clear_cookie(response)


# --- the login page ------------------------------------------------------------------------------------


@pages.route("/iam/accedi", methods=["GET", "POST"])
def login_page() -> ResponseReturnValue:
    next_path = sessions.safe_next(request.values.get("next"))
    if request.method == "GET":
        current = sessions.signed_in()
        if current is not None and current.account.state == AccountState.ACTIVE.value and next_path != "/":
            return redirect(next_path)
        return render_page("oidc/login.html", next=next_path, username="", errors={})

    username = request.form.get("username", "")
    password = request.form.get("password", "")
    errors = _login_form_errors(username, password)
    if errors:
        return render_page("oidc/login.html", next=next_path, username=username[:64], errors=errors), 400
    result = login.authenticate(
        db=db, policy=login_policy(), username=username, password=password, origin=current_origin()
    )
    if result.outcome is Outcome.SUCCEEDED:
        return sessions.set_cookie(
            redirect(next_path if next_path != "/" else AREA_RISERVATA, 303), result.sso_token or ""
        )
    if result.outcome is Outcome.MUST_CHANGE_PASSWORD:
        target = f"{sessions.CHANGE_PASSWORD_PATH}?{urlencode({'next': next_path})}"
        return sessions.set_cookie(redirect(target, 303), result.sso_token or "")
    status = 403 if result.outcome in (Outcome.DISABLED, Outcome.REVOKED) else 401
    return (
        render_page(
            "oidc/login.html",
            next=next_path,
            username=username[:64],
            errors={},
            outcome=result.outcome.value,
            locked_until=_local_time(result.locked_until),
        ),
        status,
    )


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
        return "ops"  # locked until the helpdesk lifts it
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
        return render_page("oidc/change_password.html", next=next_path, errors={})
    new_password = request.form.get("new_password", "")
    confirmation = request.form.get("confirm_password", "")
    errors: dict[str, list[str]] = {}
    if not new_password:
        errors["new_password"] = [gettext("Inserisci la nuova password.")]
    elif new_password != confirmation:
        errors["confirm_password"] = [gettext("Le due password non coincidono.")]
    if not errors:
        try:
            token_value = login.change_forced_password(
                db=db,
                policy=login_policy(),
                account_id=account.id,
                new_password=new_password,
                origin=current_origin(),
            )
        except login.PasswordRefused as refused:
            errors["new_password"] = [_problem_message(code) for code in refused.problems]
        else:
            target = next_path if next_path != "/" else AREA_RISERVATA
            return sessions.set_cookie(redirect(target, 303), token_value)
    return render_page("oidc/change_password.html", next=next_path, errors=errors), 400


def _problem_message(code: str) -> str:
    if code == login.TEMPORARY_PASSWORD_REUSED:
        return gettext("Non puoi usare la password temporanea come password definitiva: scegline una tua.")
    if code == login.NOT_REQUIRED:
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
    """Render an oidc page (they extend iam/page.html, the shared Polis layout)."""
    return render_template(template, min_length=_min_length(), **context)
