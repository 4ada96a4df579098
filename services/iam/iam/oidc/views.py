"""The OpenID Connect endpoints, IAM's login page and the forced password change: thin views over the
service functions in login.py, provider.py and sessions.py."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError, InteractionRequiredError
from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext
from polis.errors import NotFound
from polis.web import api_doc

from iam.accounts.models import AccountState
from iam.audit.origin import current_origin
from iam.extensions import db
from iam.oidc import clients, consent, keys, login, provider, sessions
from iam.oidc import unlock as unlock_links
from iam.oidc.cli import register_cli
from iam.oidc.key_admin import register_key_admin
from iam.oidc.login import LoginPolicy, Outcome
from iam.oidc.registry_api import register_registry_and_consent
from iam.oidc.txn import write_transaction
from iam.ops import ops_actor, ops_required
from iam.personal_area.language import account_language, in_language

LOGIN_POLICY = "iam.login_policy"
log = logging.getLogger("iam.oidc")

# OAuth endpoints: machine-to-machine or redirect-only, no CSRF token (PKCE and state protect them).
protocol = Blueprint("oidc", __name__)
# IAM's HTML pages of this area, protected by CSRF tokens like every other form.
pages = Blueprint("oidc_pages", __name__)
ops = Blueprint("oidc_ops", __name__, url_prefix="/api/iam/v1/ops")

AREA_RISERVATA = "/iam/area-riservata"


def register_oidc(app: Flask) -> None:
    # The in-process caches belong to one database: a new app (tests) starts with empty ones.
    keys.forget_cached()
    register_key_admin(app)  # the keys' settings, their ops API and `oidc-keys` commands
    clients.forget_cached()
    sessions.register_sessions(app)
    app.extensions[LOGIN_POLICY] = LoginPolicy.from_settings(app.config)
    provider.build_server(app)
    app.register_blueprint(protocol)
    app.register_blueprint(pages)
    app.register_blueprint(ops)
    register_cli(app)
    app.after_request(allow_client_form_action)
    register_registry_and_consent(app)  # the clients' ops API and the consent page
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
    """The authorization endpoint: errors before the redirect URI is known to be the client's are shown
    here; after that they go back to the client. `prompt` (none, login, consent) and `max_age` decide
    whether the SSO session is enough, a fresh password is needed, or (prompt=none) the client is told."""
    server = provider.server()
    args = request.args
    prompts = set(args.get("prompt", "").split())
    current = sessions.signed_in()
    user = None
    if current is not None and current.account.state == AccountState.ACTIVE.value:
        auth_time = int(sessions.as_utc(current.session.created_at).timestamp())
        if _fresh_enough(auth_time, prompts, args):
            user = provider.User.of(current.account, current.session.id, auth_time)
    try:
        grant = server.get_consent_grant(end_user=user)
        _check_max_age(args.get("max_age"))
    except OAuth2Error as error:
        if error.redirect_uri:  # the redirect URI is the client's own, checked: the error goes back there
            return server.handle_error_response(request, error)
        return _authorize_error(error)
    client = grant.client
    state = args.get("state")
    redirect_uri = grant.redirect_uri
    if current is not None and current.account.state == AccountState.MUST_CHANGE_PASSWORD.value:
        if "none" in prompts:
            return _to_client(InteractionRequiredError(state=state, redirect_uri=redirect_uri))
        return redirect(f"{sessions.CHANGE_PASSWORD_PATH}?{urlencode({'next': request.full_path})}")
    if user is None:
        # prompt=none without a usable session was answered login_required by Authlib above.
        return redirect(sessions.login_url(_with_auth_after(request.full_path)))
    if not client.trusted:
        if args.get(CONSENT_PARAM) == "denied":
            return _to_client(AccessDeniedError(state=state, redirect_uri=redirect_uri))
        if consent.needs_consent(db, user.account_id, client, grant.request.payload.scope or ""):
            if "none" in prompts:
                return _to_client(ConsentRequiredError(state=state, redirect_uri=redirect_uri))
            return redirect(f"{consent.CONSENT_PATH}?{urlencode({'next': request.full_path})}")
    return server.create_authorization_response(grant=grant, grant_user=user)


# After a login asked by prompt=login or max_age, the authorize URL comes back with this parameter: the
# session must have started at or after it (it can only make the check stricter, so a client may set it).
AUTH_AFTER_PARAM = "auth_after"
CONSENT_PARAM = "consent"


def _fresh_enough(auth_time: int, prompts: set[str], args: Any) -> bool:
    after = args.get(AUTH_AFTER_PARAM, "")
    if after.isdigit():
        return auth_time >= int(after)
    if "login" in prompts:
        return False
    max_age = args.get("max_age", "")
    return not max_age.isdigit() or time.time() - auth_time <= int(max_age)


def _check_max_age(value: str | None) -> None:
    if value is not None and not value.isdigit():
        raise InvalidRequestError(
            "'max_age' must be a number of seconds.",
            state=request.args.get("state"),
            redirect_uri=request.args.get("redirect_uri"),
        )


def _with_auth_after(path: str) -> str:
    """The authorize URL the login page returns to: with auth_after=now when a fresh login is required."""
    prompts = set(request.args.get("prompt", "").split())
    if "login" not in prompts and not request.args.get("max_age", "").isdigit():
        return path
    if request.args.get(AUTH_AFTER_PARAM):
        return path
    return f"{path}&{urlencode({AUTH_AFTER_PARAM: int(time.time())})}"


def _to_client(error: OAuth2Error) -> ResponseReturnValue:
    return provider.server().handle_error_response(request, error)


# Read by the gateway (gateway/security.py): the one extra origin the page's forms may end at.
FORM_ACTION_HEADER = "X-Polis-Form-Action"


def allow_client_form_action(response: Response) -> Response:
    """On a page whose form continues an authorization request (login, forced change, consent), name the
    client's redirect origin: the form's POST ends there after IAM's redirects, and the browser checks the
    page's CSP form-action along the whole chain."""
    next_value = request.values.get("next") if response.mimetype == "text/html" else None
    if next_value:
        origin = client_redirect_origin(next_value)
        if origin is not None:
            response.headers[FORM_ACTION_HEADER] = origin
    return response


def client_redirect_origin(next_path: str) -> str | None:
    """The origin of the redirect URI of the authorization request in `next`, if it is the client's own."""
    parts = urlsplit(next_path)
    if parts.scheme or parts.netloc or parts.path != "/oidc/authorize":
        return None
    params = parse_qs(parts.query)
    client = clients.find(db, (params.get("client_id") or [""])[0])
    redirect_uri = (params.get("redirect_uri") or [""])[0]
    if client is None or redirect_uri not in client.redirect_uris:
        return None
    target = urlsplit(redirect_uri)
    return f"{target.scheme}://{target.netloc}"


def _authorize_error(error: OAuth2Error) -> ResponseReturnValue:
    # Before the redirect URI is known to be the client's, the error is shown here, never redirected.
    # The description is the library's English, for developers: logged, not shown (issue 13 item 7).
    log.info("authorization request refused here: %s %s", error.error, error.description or "")
    return render_page("oidc/error.html", error_code=error.error), 400


@protocol.post("/oidc/token")
def token() -> ResponseReturnValue:
    return provider.server().create_token_response()


@protocol.route("/oidc/userinfo", methods=["GET", "POST"])
def userinfo() -> ResponseReturnValue:
    return provider.server().create_endpoint_response("userinfo")


@protocol.post("/oidc/revoke")
def revoke() -> ResponseReturnValue:
    """RFC 7009: a client revokes its refresh token (the family ends) or access token."""
    return provider.server().create_endpoint_response("revocation")


@protocol.post("/oidc/introspect")
def introspect() -> ResponseReturnValue:
    """RFC 7662: whether a token is active, for the client it was issued to (or an introspection role)."""
    return provider.server().create_endpoint_response("introspection")


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
    token_value = request.cookies.get(sessions.current_cookie())
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
    if result.outcome in (Outcome.SUCCEEDED, Outcome.MUST_CHANGE_PASSWORD):
        if result.outcome is Outcome.SUCCEEDED:
            target = next_path if next_path != "/" else AREA_RISERVATA
        else:
            target = f"{sessions.CHANGE_PASSWORD_PATH}?{urlencode({'next': next_path})}"
        # The pages follow the account's preferred language from now on (issue 13 item 7).
        target = in_language(account_language(result.account_id), target)
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


@pages.route("/iam/accedi/sblocca/<token>", methods=["GET", "POST"])
def unlock_page(token: str) -> ResponseReturnValue:
    """The unlock link of the email (issue 11 item 5): a click first, so that a mail scanner fetching the
    link unlocks nothing; the page is never stored (it carries the token)."""
    policy = login_policy().unlock
    private = {"Cache-Control": "no-store"}
    if request.method == "GET":
        if not unlock_links.link_usable(db=db, policy=policy, token=token):
            return render_page("oidc/unlock_failed.html"), 400, private
        return render_page("oidc/unlock.html", token=token), 200, private
    try:
        unlock_links.unlock_with_link(db=db, policy=policy, token=token, origin=current_origin())
    except unlock_links.InvalidUnlockLink:
        return render_page("oidc/unlock_failed.html"), 400, private
    return render_page("oidc/unlocked.html"), 200, private


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
