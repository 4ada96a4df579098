"""Istanze OnLine's pages (through the gateway at /istanze/...): languages, CSRF, the layout, readable errors.

Shaped like enablement's pages: the gateway forwards the portal session's access token as
`Authorization: Bearer` and only istanze_* cookies and `lang`, and fills the header's account part
(polis.ui's marker). A page is guarded by `page_permission(name)`: no valid token -> the portal's login,
coming back here; a token without the permission -> a 403 page. Flask's session (the CSRF token) is
`istanze_session`. The views call the service functions only (applications, procedures, forms).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from flask import Flask, Response, redirect, request
from flask_babel import Babel
from flask_wtf.csrf import CSRFError, CSRFProtect
from polis.auth import AuthError
from polis.auth.web import authenticate
from polis.config import Env
from polis.errors import ApiError
from polis.ui import prepare_catalogs, register_ui, render_error_page, ui_settings
from polis.ui.i18n import select_locale
from werkzeug.exceptions import HTTPException

from istanze.permissions import PERMISSIONS

log = logging.getLogger("istanze.pages")
babel = Babel()
csrf = CSRFProtect()
TRANSLATIONS = Path(__file__).parents[1] / "translations"
PAGES = "/istanze/"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
F = TypeVar("F", bound=Callable[..., Any])


def page_settings(env: Env) -> dict[str, Any]:
    """The pages' settings (istanze.config): the session cookie that holds the CSRF token, languages."""
    return {
        "SECRET_KEY": env.secret("ISTANZE_SECRET_KEY", dev_default="dev-only-istanze-secret-key").reveal(),
        "SESSION_COOKIE_NAME": "istanze_session",
        "SESSION_COOKIE_SECURE": env.bool("ISTANZE_SECURE_COOKIES", env.is_production),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "BABEL_DEFAULT_LOCALE": "it",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Rome",
        "LANGUAGES": ("it", "en"),
        # The largest form post (attachments included); the gateway's own limit applies first.
        "MAX_CONTENT_LENGTH": env.int("ISTANZE_MAX_CONTENT_LENGTH", 8 * 1024 * 1024),
        **ui_settings(env),
    }


def register_pages(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # a long form may stay open for hours
    csrf.init_app(app)

    @app.before_request
    def _protect_forms() -> None:
        if request.method in UNSAFE_METHODS and request.path.startswith(PAGES):
            csrf.protect()

    register_ui(app, home_url="/", login_url="/accedi", language_url="/lingua/{code}", static_url="/static")
    prepare_catalogs(TRANSLATIONS, environment=app.config.get("POLIS_ENV"))
    _register_error_pages(app)
    from istanze.pages import contacts  # noqa: F401 - its views join the blueprint
    from istanze.pages.views import blueprint

    app.register_blueprint(blueprint)


def page_permission(name: str) -> Callable[[F], F]:
    """A page for holders of permission `name`: others log in first (and come back), or get a 403 page."""
    needed = PERMISSIONS[name]

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                principal = authenticate()
            except AuthError:
                return redirect("/accedi?next=" + quote(request.full_path.rstrip("?"), safe="/"), 303)
            if not needed.allows(principal):
                return render_error_page(403), 403
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _wants_page() -> bool:
    return request.path.startswith(PAGES)


def _register_error_pages(app: Flask) -> None:
    json_handlers: dict[type[Exception], Any] = dict(app.error_handler_spec[None][None])

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        if not _wants_page():
            return json_handlers[HTTPException](exc)
        return render_error_page(400, csrf=True), 400

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Any:
        if not _wants_page():
            return json_handlers[ApiError](exc)
        return render_error_page(exc.status), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if not _wants_page():
            return json_handlers[HTTPException](exc)
        status = exc.code or 500
        return Response(render_error_page(status), status=status, mimetype="text/html")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if not _wants_page():
            return json_handlers[Exception](exc)
        log.exception("unexpected error")  # the stack trace in the log, never in the page
        return render_error_page(500), 500
