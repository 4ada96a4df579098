"""IAM's pages forwarded below Flask's dispatch (issue 18, P1-login): GET /oidc/authorize (the login form) and
POST /iam/accedi are pure proxying, and Flask's request context, session interface, URL matching and
before/after-request hooks were most of what the gateway spent on them.

The layer sits where the /api/ proxy sits (inside ProxyFix, inside polis.web's request layer: the request
id, the access line and the metrics are as before, the metrics under the same route template). It answers
what the Flask view (gateway/api/pages.py `forward`) answers, through the same functions: the page rate
limit of the `iam_pages.forward` endpoint, the credential bands for the credential forms, the request and
answer headers, IAM's cookies only, and the app's own after-request hooks (the asset
fingerprints, the security headers) in Flask's order. Anything unusual goes to Flask unchanged before
anything is counted: a path Flask's router does not give to `forward`, HEAD and other methods, a body
without a Content-Length or larger than a small form, a step-up cookie to spend, TRUSTED_HOSTS,
SERVER_NAME or a script root, request hooks the app has that this layer does not know, and a portal
session with a user (the before-request hooks end a session IAM ended and renew its tokens; its account
menu is the view's). A rate limit or credential band refusal and an exception are answered by the app in
a request context, as the view's would be.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, g
from flask.wrappers import Response
from polis.web import ENDPOINT_KEY
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.wsgi import get_host

from gateway import stepup
from gateway.api.connections import UpstreamTimeout, UpstreamUnreachable
from gateway.api.proxy import target

log = logging.getLogger("gateway.ratelimit")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

PREFIXES = ("/iam/", "/oidc/")
ENDPOINT = "iam_pages.forward"
METHODS = frozenset({"GET", "POST"})
# A login form is a few hundred bytes; a larger body takes Flask's route (MAX_CONTENT_LENGTH, 413 ...).
MAX_BODY = 64 * 1024
# The request hooks whose work this layer does itself, or which do nothing on a path without a session
# (the store outage, CSRF for an exempt blueprint, the SSO-ended and refresh checks). Another hook, added
# later, sends every request to Flask until this layer knows it.
KNOWN_BEFORE = frozenset(
    {
        "register_store_outage.<locals>._session_unreadable",
        "CSRFProtect.init_app.<locals>.csrf_protect",
        "_check",
        "end_sessions_ended_at_iam",
        "keep_api_tokens_fresh",
    }
)
KNOWN_AFTER = (
    "register_security_headers.<locals>._security_headers",
    "register_static_files.<locals>.fingerprint_page_assets",
)
# The router's verdict by (method, path): the route template, or None for Flask. Bounded, as paths come
# from clients: past it, a path not seen yet is Flask's.
ROUTES_CACHED = 256


class PageRoute:
    """The WSGI layer in front of Flask that answers the forwarded IAM pages itself."""

    def __init__(self, flask_app: WsgiApp, app: Flask) -> None:
        self.flask_app = flask_app
        self.app = app
        self._enabled: bool | None = None
        self._routes: dict[tuple[str, str], str | None] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        rule = self._rule(environ)
        if rule is None or not self._usable(environ) or self._signed_in(environ):
            return self.flask_app(environ, start_response)
        body = self._body(environ)
        if body is None:
            return self.flask_app(environ, start_response)
        environ[ENDPOINT_KEY] = rule  # the metrics' label, as Flask's matched rule names it
        try:
            response = self._answer(environ, body or None)
        except Exception as error:  # what Flask does with an exception in a view: the app's handlers
            return self._respond(environ, _raising(error))(environ, start_response)
        return response(environ, start_response)

    # --- what goes to Flask -------------------------------------------------------------------------------

    def _rule(self, environ: dict[str, Any]) -> str | None:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if method not in METHODS or not path.startswith(PREFIXES) or not path.isascii():
            return None
        key = (method, path)
        if key in self._routes:
            return self._routes[key]
        rule = self._match(method, path)
        with self._lock:
            if len(self._routes) < ROUTES_CACHED:
                self._routes[key] = rule
        return rule

    def _match(self, method: str, path: str) -> str | None:
        adapter = self.app.url_map.bind("localhost")
        try:
            rule, _args = adapter.match(path, method, return_rule=True)
        except (HTTPException, RequestRedirect):
            return None
        return rule.rule if rule.endpoint == ENDPOINT and rule.rule != "/iam/" else None

    def _usable(self, environ: dict[str, Any]) -> bool:
        if self._enabled is None:
            app = self.app
            before = {f.__qualname__ for f in app.before_request_funcs.get(None, ())}
            after = tuple(f.__qualname__ for f in app.after_request_funcs.get(None, ()))
            blueprint_hooks = any(
                hooks.get("iam_pages")
                for hooks in (app.before_request_funcs, app.after_request_funcs, app.url_value_preprocessors)
            )
            self._enabled = (
                before <= KNOWN_BEFORE
                and after == KNOWN_AFTER
                and not blueprint_hooks
                and not app.url_value_preprocessors.get(None)
                and not app.config.get("TRUSTED_HOSTS")
                and not app.config.get("SERVER_NAME")
            )
        if not self._enabled or environ.get("SCRIPT_NAME"):
            return False
        if environ["REQUEST_METHOD"] == "POST" and _is_credential_form(environ):
            # A step-up cookie is spent (deleted) by the view's after-this-request hook: Flask's route.
            return stepup.COOKIE not in environ.get("HTTP_COOKIE", "")
        return True

    def _signed_in(self, environ: dict[str, Any]) -> bool:
        """A portal session with a user (or its tokens) takes Flask's route: its before-request hooks end a
        session IAM ended (back-channel logout) and renew the tokens, so a forwarded page never names a user
        whose session is over. The login's own requests carry at most the login's state."""
        from gateway.auth.forwarding import portal_bearer
        from gateway.auth.tokens import SessionTokens
        from gateway.auth.views import USER

        try:
            data = portal_bearer(self.app).cookies.load(environ)
        except Exception:  # the session store unreadable: Flask's route answers that (its outage page)
            return True
        if data is None:
            return False
        return bool(data.get(USER)) or SessionTokens.from_session(data) is not None

    def _body(self, environ: dict[str, Any]) -> bytes | None:
        """The request body, b"" for none; None (the body put back) for what Flask's route reads itself."""
        if environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        declared = environ.get("CONTENT_LENGTH")
        if not declared:
            return None if environ["REQUEST_METHOD"] == "POST" else b""
        try:
            length = int(declared)
        except ValueError:
            return None
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        if not 0 <= length <= (min(MAX_BODY, int(limit)) if limit else MAX_BODY):
            return None
        try:
            body = environ["wsgi.input"].read(length) if length else b""
        except OSError:  # the client went away: Flask's route answers that as it always did
            environ["wsgi.input"] = io.BytesIO(b"")
            return None
        # Put back either way: Flask's route reads it if it gets the request, an error page's context too.
        environ["wsgi.input"] = io.BytesIO(body)
        return body if len(body) == length else None

    # --- the answer ---------------------------------------------------------------------------------------

    def _answer(self, environ: dict[str, Any], body: bytes | None) -> Response:
        from gateway.api.pages import (
            answer_response,
            credential_decision,
            origin_of,
            page_pools,
            request_headers,
            upstream_failed,
        )
        from gateway.stepup_pages import refused

        app = self.app
        address = environ.get("REMOTE_ADDR")
        over = self._over_limit(address or "127.0.0.1")
        if over is not None:
            return self._respond(environ, lambda: self._rate_limited(over))
        method = environ["REQUEST_METHOD"]
        if method == "POST" and _is_credential_form(environ):  # the view's check (stepup_pages.py)
            decision = credential_decision(app, address, environ.get(stepup.ENVIRON_HEADER))
            if decision.band != "pass":
                return self._respond(environ, lambda: refused(decision))
        headers = request_headers(environ, get_host(environ))
        pools = page_pools(app)
        try:
            answer = pools.request(origin_of(app), method, target(environ), headers, body)
            payload = answer.read()
        except (UpstreamTimeout, UpstreamUnreachable, OSError) as exc:
            upstream_failed("iam", exc)
        pools.release(answer, reusable=True)
        response = answer_response(answer, payload, menu=self._menu)
        for hook in reversed(app.after_request_funcs[None]):  # Flask's order (process_response)
            response = hook(response)
        return response

    def _over_limit(self, address: str) -> Any:
        """The page limit of Flask's before-request check (gateway/ratelimit.py), counted the same way."""
        from gateway.ratelimit import EXTENSION, PageLimits, RateLimited

        limits: PageLimits = self.app.extensions[EXTENSION]
        if not limits.enabled:
            return None
        prefix = f"{limits.prefix}/{ENDPOINT}"
        for limit in limits.limits_for(ENDPOINT):
            if not limits.windows.hit(limit, prefix, address):
                log.info("rate limit %s exceeded at %s", limit, ENDPOINT)
                return RateLimited(limits.windows.reset_time(limit, prefix, address))
        return None

    def _rate_limited(self, over: Exception) -> Any:
        g.rate_limited = over
        raise over

    @staticmethod
    def _menu(page: bytes) -> tuple[bytes, bool]:
        """with_account_menu's answer for a request nobody is signed in to (a signed-in session took Flask's
        route, `_signed_in`): the page unchanged, naming nobody."""
        return page, False

    def _respond(self, environ: dict[str, Any], make: Callable[[], Any]) -> Response:
        """An answer the app makes in a request context, finalised as Flask's dispatch would."""
        app = self.app
        with app.request_context(environ):
            try:
                try:
                    rv = make()
                except Exception as error:
                    rv = app.handle_user_exception(error)
                return app.finalize_request(rv)  # type: ignore[return-value]
            except Exception as unhandled:
                return app.handle_exception(unhandled)  # type: ignore[return-value]


def _raising(error: Exception) -> Callable[[], Any]:
    def again() -> Any:
        raise error.with_traceback(error.__traceback__)

    return again


def _is_credential_form(environ: dict[str, Any]) -> bool:
    from gateway.api.pages import CREDENTIAL_FORMS

    return bool(environ.get("PATH_INFO", "").startswith(CREDENTIAL_FORMS))
