"""The authorization endpoint's decision, shared by GET /oidc/authorize and by the login POST that continues
an authorization request (issue 18: no browser round trip that carries nothing).

`respond(authorization, current, sign_in=...)` validates the request as the endpoint always did (client,
redirect URI, response type, scope, PKCE, nonce, prompt and max_age, on Authlib's server) and answers: an
error page (the redirect URI is not known to be the client's), an error sent back to the client, an
interstitial (the forced password change, the consent page), or the code. When the request needs a password
first, `sign_in(next_path)` answers: the endpoint shows the login form at once (its `next` is this
authorize URL), the login POST sends the browser back to it.

`request_for(next_path)` turns the authorize URL a login form carries back into the request the endpoint
would have received, so that the login POST decides exactly as GET /oidc/authorize does.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError, InteractionRequiredError
from flask import Request, redirect, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.test import EnvironBuilder

from iam.accounts.models import AccountState
from iam.extensions import db
from iam.oidc import consent
from iam.oidc import server as oidc_server
from iam.oidc.users import User
from iam.signin import sessions

log = logging.getLogger("iam.oidc")

AUTHORIZE_PATH = consent.AUTHORIZE_PATH
# After a login asked by prompt=login or max_age, the authorize URL comes back with this parameter: the
# session must have started at or after it (it can only make the check stricter, so a client may set it).
AUTH_AFTER_PARAM = "auth_after"
CONSENT_PARAM = consent.DECISION_PARAMETER


def respond(
    authorization: Request,
    current: sessions.SignedIn | None,
    *,
    sign_in: Callable[[str], ResponseReturnValue],
    refused_here: Callable[[OAuth2Error], ResponseReturnValue] | None = None,
) -> ResponseReturnValue:
    """The answer to this authorization request for the browser signed in as `current` (or nobody);
    `refused_here` answers a request refused before its redirect URI is known to be the client's (by
    default the error page)."""
    server = oidc_server.server()
    args = authorization.args
    prompts = set(args.get("prompt", "").split())
    user = None
    if current is not None and current.account.state == AccountState.ACTIVE.value:
        auth_time = int(sessions.as_utc(current.session.created_at).timestamp())
        if _fresh_enough(auth_time, prompts, args):
            user = User.of(current.account, current.session.id, auth_time)
    try:
        grant = server.get_consent_grant(request=authorization, end_user=user)
        _check_max_age(args)
    except OAuth2Error as error:
        if error.redirect_uri:  # the redirect URI is the client's own, checked: the error goes back there
            return server.handle_error_response(authorization, error)
        return (refused_here or _authorize_error)(error)
    client = grant.client
    state = args.get("state")
    redirect_uri = grant.redirect_uri

    def to_client(error: OAuth2Error) -> ResponseReturnValue:
        return server.handle_error_response(authorization, error)

    if current is not None and current.account.state == AccountState.MUST_CHANGE_PASSWORD.value:
        if "none" in prompts:
            return to_client(InteractionRequiredError(state=state, redirect_uri=redirect_uri))
        return redirect(f"{sessions.CHANGE_PASSWORD_PATH}?{urlencode({'next': authorization.full_path})}")
    if user is None:
        # prompt=none without a usable session was answered login_required by Authlib above.
        return sign_in(_with_auth_after(authorization))
    if not client.trusted:
        if args.get(CONSENT_PARAM) == consent.DENIED:
            return to_client(AccessDeniedError(state=state, redirect_uri=redirect_uri))
        if consent.needs_consent(db, user.account_id, client, grant.request.payload.scope or ""):
            if "none" in prompts:
                return to_client(ConsentRequiredError(state=state, redirect_uri=redirect_uri))
            return redirect(f"{consent.CONSENT_PATH}?{urlencode({'next': authorization.full_path})}")
    return server.create_authorization_response(request=authorization, grant=grant, grant_user=user)


def request_for(next_path: str) -> Request | None:
    """The GET /oidc/authorize request of a login form's `next` (already a safe local path), with the
    current request's host and headers; None when `next` is not an authorization request."""
    parts = urlsplit(next_path)
    if parts.path != AUTHORIZE_PATH or not parts.query:
        return None
    environ = authorize_environ(request, parts.query)
    if environ is None:
        return _built_request(parts.query)
    return Request(environ)


def authorize_environ(current: Request, query: str) -> dict[str, Any] | None:
    """The environ werkzeug's EnvironBuilder makes for the GET of AUTHORIZE_PATH?`query` at the current
    request's root URL, with its headers less the body's and its remote address (_built_request), made
    directly: the builder was about a tenth of the login POST's continuation (issue 18, P1-login). None for
    anything the builder would encode or pick apart (a script root, an unusual host, a non-ASCII query):
    then the builder makes it."""
    host = current.host
    if current.script_root or not query.isascii() or not _PLAIN_HOST.fullmatch(host):
        return None
    scheme = current.scheme
    name, colon, port = host.partition(":")
    default_port = "443" if scheme == "https" else "80"
    server_port = str(int(port)) if colon and port.isdigit() else default_port
    environ: dict[str, Any] = {
        "REMOTE_ADDR": current.remote_addr or "",
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": AUTHORIZE_PATH,
        "QUERY_STRING": query,
        "REQUEST_URI": AUTHORIZE_PATH,
        "RAW_URI": AUTHORIZE_PATH,
        "SERVER_NAME": name,
        "SERVER_PORT": server_port,
        "HTTP_HOST": host,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for key, value in current.environ.items():
        if key.startswith("HTTP_") and key not in _NOT_COPIED:
            environ["HTTP_" + key[5:].upper()] = value
    return environ


def _built_request(query: str) -> Request:
    builder = EnvironBuilder(
        path=AUTHORIZE_PATH,
        base_url=request.root_url,
        query_string=query,
        method="GET",
        headers=[(name, value) for name, value in request.headers if name.lower() not in _BODY_HEADERS],
        environ_base={"REMOTE_ADDR": request.remote_addr or ""},
    )
    try:
        return Request(builder.get_environ())
    finally:
        builder.close()


# A host (and port) that werkzeug's URL handling leaves as it is.
_PLAIN_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]+)?")
# The body's headers are not the GET's; the two content ones are not headers in the environ (WSGI keeps
# them without HTTP_), so werkzeug's headers never carry them under these names either.
_NOT_COPIED = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING"})
_BODY_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding"})


def _fresh_enough(auth_time: int, prompts: set[str], args: Any) -> bool:
    after = args.get(AUTH_AFTER_PARAM, "")
    if after.isdigit():
        return auth_time >= int(after)
    if "login" in prompts:
        return False
    max_age = args.get("max_age", "")
    return not max_age.isdigit() or time.time() - auth_time <= int(max_age)


def _check_max_age(args: Any) -> None:
    value = args.get("max_age")
    if value is not None and not value.isdigit():
        raise InvalidRequestError(
            "'max_age' must be a number of seconds.",
            state=args.get("state"),
            redirect_uri=args.get("redirect_uri"),
        )


def _with_auth_after(authorization: Request) -> str:
    """The authorize URL the login returns to: with auth_after=now when a fresh login is required."""
    path = authorization.full_path
    args = authorization.args
    prompts = set(args.get("prompt", "").split())
    if "login" not in prompts and not args.get("max_age", "").isdigit():
        return path
    if args.get(AUTH_AFTER_PARAM):
        return path
    return f"{path}&{urlencode({AUTH_AFTER_PARAM: int(time.time())})}"


def _authorize_error(error: OAuth2Error) -> ResponseReturnValue:
    # Before the redirect URI is known to be the client's, the error is shown here, never redirected.
    # The description is the library's English, for developers: logged, not shown (issue 13 item 7).
    log.info("authorization request refused here: %s %s", error.error, error.description or "")
    return render_template("oidc/error.html", error_code=error.error), 400
