"""The OpenID Connect endpoints (discovery, JWKS, authorize, token, userinfo, revocation, introspection,
logout): thin views over the provider (server.py) and the SSO session (iam.signin.sessions)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue

from iam.clients import service as clients
from iam.extensions import db
from iam.keys import service as keys
from iam.oidc import authorization, endpoints
from iam.oidc import discovery as metadata
from iam.oidc import server as oidc_server
from iam.signin import sessions
from iam.signin.views import login_form

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
    whether the SSO session is enough, a fresh password is needed, or (prompt=none) the client is told
    (iam.oidc.authorization). A browser that must type its password gets the login form in this very answer:
    the form posts to /iam/accedi with this URL as `next`, and the login issues the code from there."""
    return authorization.respond(request, sessions.signed_in(), sign_in=login_form)


# Read by the gateway (gateway/security.py): the one extra origin the page's forms may end at.
FORM_ACTION_HEADER = "X-Polis-Form-Action"


def allow_client_form_action(response: Response) -> Response:
    """On a page whose form continues an authorization request (login, forced change, consent), name the
    client's redirect origin: the form's POST ends there after IAM's redirects, and the browser checks the
    page's CSP form-action along the whole chain. The login form shown by the authorization endpoint
    itself continues the request it answers."""
    if response.mimetype != "text/html":
        return response
    next_value = (
        request.full_path if request.path == authorization.AUTHORIZE_PATH else request.values.get("next")
    )
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
