"""The OpenID Connect endpoints (discovery, JWKS, authorize, token, userinfo, revocation, introspection,
logout): thin views over the provider (server.py) and the SSO session (iam.signin.sessions)."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError, InteractionRequiredError
from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue

from iam.accounts.models import AccountState
from iam.clients import service as clients
from iam.extensions import db
from iam.keys import service as keys
from iam.oidc import consent, endpoints
from iam.oidc import discovery as metadata
from iam.oidc import server as oidc_server
from iam.oidc.users import User
from iam.signin import sessions

log = logging.getLogger("iam.oidc")

# OAuth endpoints: machine-to-machine or redirect-only, no CSRF token (PKCE and state protect them).
protocol = Blueprint("oidc", __name__)


# --- discovery, keys, authorize, token, userinfo, logout ------------------------------------------------


@protocol.get("/.well-known/openid-configuration")
def discovery() -> ResponseReturnValue:
    response = jsonify(metadata.discovery())
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
    server = oidc_server.server()
    args = request.args
    prompts = set(args.get("prompt", "").split())
    current = sessions.signed_in()
    user = None
    if current is not None and current.account.state == AccountState.ACTIVE.value:
        auth_time = int(sessions.as_utc(current.session.created_at).timestamp())
        if _fresh_enough(auth_time, prompts, args):
            user = User.of(current.account, current.session.id, auth_time)
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
    return oidc_server.server().handle_error_response(request, error)


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
    return render_template("oidc/error.html", error_code=error.error), 400


@protocol.post("/oidc/token")
def token() -> ResponseReturnValue:
    return oidc_server.server().create_token_response()


@protocol.route("/oidc/userinfo", methods=["GET", "POST"])
def userinfo() -> ResponseReturnValue:
    return oidc_server.server().create_endpoint_response("userinfo")


@protocol.post("/oidc/revoke")
def revoke() -> ResponseReturnValue:
    """RFC 7009: a client revokes its refresh token (the family ends) or access token."""
    return oidc_server.server().create_endpoint_response("revocation")


@protocol.post("/oidc/introspect")
def introspect() -> ResponseReturnValue:
    """RFC 7662: whether a token is active, for the client it was issued to (or an introspection role)."""
    return oidc_server.server().create_endpoint_response("introspection")


@protocol.route("/oidc/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """RP-initiated logout: end the SSO session; go back to the client only to a URI it registered."""
    values = request.values
    target = values.get("post_logout_redirect_uri")
    hint = endpoints.decode_id_token_hint(values.get("id_token_hint", ""))
    redirect_to = None
    if target and hint is not None:
        audiences = hint.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        client_id = values.get("client_id") or (audiences[0] if audiences else None)
        client = oidc_server.query_client(str(client_id)) if client_id in audiences else None
        if client is not None and target in client.post_logout_redirect_uris:
            state = values.get("state")
            redirect_to = target + (
                ("&" if urlsplit(target).query else "?") + urlencode({"state": state}) if state else ""
            )
    token_value = request.cookies.get(sessions.current_cookie())
    if token_value:
        sessions.sign_out(db=db, token=token_value)
    response = (
        redirect(redirect_to, code=302)
        if redirect_to
        else current_app.make_response(render_template("oidc/logged_out.html"))
    )
    return sessions.clear_cookie(response)
