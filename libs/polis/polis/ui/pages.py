"""What the pages every service renders share (enablement's /abilitazione/..., istanze's /istanze/...): a
view guarded by a permission, and readable error pages for the paths under the service's page prefix.

The pages reach the browser through the gateway, which forwards the portal session's access token as
`Authorization: Bearer`. A view under `page_permission(permissions, name)`: no valid token -> the portal's
login, coming back here; a token without the permission -> the 403 page. Errors on paths under `prefix` are
pages (never a stack trace); elsewhere (the JSON API) the service's JSON handlers keep answering.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote

from flask import Flask, Response, redirect, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from polis.auth import AuthError, Permissions
from polis.auth.web import authenticate
from polis.errors import ApiError
from polis.ui import render_error_page

F = TypeVar("F", bound=Callable[..., Any])


def page_permission(permissions: Permissions, name: str, *, login_url: str = "/accedi") -> Callable[[F], F]:
    """A page for holders of permission `name`: others log in first (and come back), or get a 403 page."""
    needed = permissions[name]  # an unknown name fails at import

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                principal = authenticate()
            except AuthError:
                return redirect(f"{login_url}?next=" + quote(request.full_path.rstrip("?"), safe="/"), 303)
            if not needed.allows(principal):
                return render_error_page(403), 403
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def register_error_pages(app: Flask, prefix: str, log: logging.Logger) -> None:
    """Readable error pages (polis/error.html) for requests under `prefix`; the JSON handlers for others.

    Call it after the service's JSON error handlers are registered (polis.service does that)."""
    json_handlers: dict[type[Exception], Any] = dict(app.error_handler_spec[None][None])

    def wants_page() -> bool:
        return request.path.startswith(prefix)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        if not wants_page():
            return json_handlers[HTTPException](exc)
        return render_error_page(400, csrf=True), 400

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Any:
        if not wants_page():
            return json_handlers[ApiError](exc)
        return render_error_page(exc.status), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if not wants_page():
            return json_handlers[HTTPException](exc)
        status = exc.code or 500
        return Response(render_error_page(status), status=status, mimetype="text/html")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if not wants_page():
            return json_handlers[Exception](exc)
        log.exception("unexpected error")  # the stack trace in the log, never in the page
        return render_error_page(500), 500
