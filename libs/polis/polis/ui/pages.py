"""What the pages every service renders share (enablement's /abilitazione/..., istanze's /istanze/...): a
view guarded by a permission, and readable error pages for the paths under the service's page prefix.

The pages reach the browser through the gateway, which forwards the portal session's access token as
`Authorization: Bearer`. A view under `page_permission(permissions, name)`: no valid token -> the portal's
login, coming back here; a token without the permission -> the 403 page. Errors on paths under `prefix` are
pages (never a stack trace); elsewhere (the JSON API) the service's JSON handlers keep answering.
`page_settings` and `ServicePages` are the rest of a service's page infrastructure: Flask's session
cookie `<service>_session` (it holds the CSRF token), the languages, CSRF on form posts under the prefix, the
shared layout and the service's catalogs.
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
from werkzeug.exceptions import HTTPException

from polis.auth import AuthError, Permissions
from polis.auth.web import authenticate
from polis.config import Env
from polis.errors import ApiError
from polis.ui import prepare_catalogs, register_ui, render_error_page, ui_settings
from polis.ui.i18n import select_locale

F = TypeVar("F", bound=Callable[..., Any])
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def page_settings(env: Env, service: str) -> dict[str, Any]:
    """A service's page settings: the session cookie that holds the CSRF token, languages, the layout.

    Only `<service>_*` cookies cross the gateway, so Flask's session is `<service>_session`; its secret is
    <SERVICE>_SECRET_KEY (a default only in dev/test), Secure cookies <SERVICE>_SECURE_COOKIES (production:
    on)."""
    prefix = service.upper()
    return {
        "SECRET_KEY": env.secret(
            f"{prefix}_SECRET_KEY", dev_default=f"dev-only-{service}-secret-key"
        ).reveal(),
        "SESSION_COOKIE_NAME": f"{service}_session",
        "SESSION_COOKIE_SECURE": env.bool(f"{prefix}_SECURE_COOKIES", env.is_production),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "BABEL_DEFAULT_LOCALE": "it",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Rome",
        "LANGUAGES": ("it", "en"),
        # POLIS_HELPDESK_PHONE/_HOURS/_HOURS_EN, POLIS_ACCESSIBILITY_URL/_PRIVACY_URL, POLIS_ASSET_VERSION.
        **ui_settings(env),
    }


class ServicePages:
    """A service's pages under `prefix`: languages, CSRF on their form posts, the layout, readable errors.

    Made at import with the service's permissions and catalogs; its Babel and CSRF extensions are bound to
    the app by `init_app`. `permission(name)` guards a view (page_permission with the service's map)."""

    def __init__(self, service: str, *, prefix: str, permissions: Permissions, translations: Path) -> None:
        self.prefix = prefix
        self.permissions = permissions
        self.translations = translations
        self.babel = Babel()
        self.csrf = CSRFProtect()
        self.log = logging.getLogger(f"{service}.pages")

    def init_app(self, app: Flask) -> None:
        self.babel.init_app(app, locale_selector=select_locale)
        app.config["WTF_CSRF_CHECK_DEFAULT"] = False
        self.csrf.init_app(app)

        @app.before_request
        def _protect_forms() -> None:
            if request.method in UNSAFE_METHODS and request.path.startswith(self.prefix):
                self.csrf.protect()

        register_ui(
            app, home_url="/", login_url="/accedi", language_url="/lingua/{code}", static_url="/static"
        )
        prepare_catalogs(self.translations, environment=app.config.get("POLIS_ENV"))
        register_error_pages(app, self.prefix, self.log)

    def permission(self, name: str) -> Callable[[F], F]:
        """A page for holders of the service's permission `name`: others log in first, or get a 403 page."""
        return page_permission(self.permissions, name)


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
