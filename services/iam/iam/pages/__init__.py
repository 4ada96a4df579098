"""IAM's page infrastructure: languages, CSRF for form posts, the shared layout and readable error pages.

`register_pages(app)` (called by create_app) sets up what every IAM page needs; the areas then only add
blueprints whose templates extend ``iam/page.html`` (itself ``polis/layout.html``) and import
``polis/forms.html``. See services/iam/README.md, "Pages".

- Locale: the `lang` cookie set by the gateway's language switch, then Accept-Language, then Italian; the
  strings are Italian msgids translated by iam/translations (and polis.ui's catalog for the layout).
- CSRF (Flask-WTF): every POST/PUT/PATCH/DELETE outside NO_CSRF_PREFIXES needs the form's `csrf_token`
  ({{ forms.csrf_field() }}). The JSON API under /api/ relies on its JSON content type instead, like the
  gateway's; the OpenID Connect endpoints on their own protocol checks (state, PKCE, client
  authentication): a view there that handles a browser form calls `csrf.protect()` itself.
- Errors: a page in the layout, with the helpdesk contact (D-ACC-9), for page paths; the JSON error shape,
  unchanged, for the API and the other machine endpoints.
- Cookies of IAM are named iam_* (the gateway forwards only those and `lang`): Flask's session, which holds
  the CSRF token, is `iam_session` (`__Host-iam_session` with Secure cookies; HttpOnly, SameSite=Lax,
  Secure outside dev/test; iam/config.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from flask_babel import Babel
from flask_wtf.csrf import CSRFError, CSRFProtect
from polis.errors import ApiError
from polis.ui import prepare_catalogs, register_ui, render_error_page
from polis.ui.i18n import select_locale
from werkzeug.exceptions import HTTPException

log = logging.getLogger("iam.pages")

babel = Babel()
csrf = CSRFProtect()

TRANSLATIONS = Path(__file__).parents[1] / "translations"

# Paths answered in JSON, never as pages, and whose posts carry no CSRF token.
NO_CSRF_PREFIXES = ("/api/", "/oidc/", "/.well-known/")
MACHINE_PATHS = ("/api", "/healthz", "/readyz", "/metrics", "/openapi.json")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def register_pages(app: Flask) -> None:
    """Babel, CSRF, the shared layout, error pages and IAM's own small pages (GET /iam/)."""
    babel.init_app(app, locale_selector=select_locale)
    from iam.pages.session import IamSessionInterface

    app.session_interface = IamSessionInterface()  # Flask's cookie session, its serializer made once
    _register_csrf(app)
    register_ui(app, home_url="/", login_url="/accedi", language_url="/lingua/{code}", static_url="/static")
    # Catalogs edited during development are picked up at the next start; installs compile them first.
    prepare_catalogs(TRANSLATIONS, environment=app.config.get("POLIS_ENV"))
    _register_error_pages(app)

    from iam.pages.views import blueprint

    app.register_blueprint(blueprint)


def wants_page() -> bool:
    """Whether the current request gets HTML (a page) rather than JSON when something goes wrong."""
    path = request.path
    if path in MACHINE_PATHS or path.startswith(("/api/", "/.well-known/")):
        return False
    if path.startswith("/oidc/"):
        # The authorize and logout endpoints are visited by browsers; token, userinfo and jwks by programs.
        return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    return True


def _register_csrf(app: Flask) -> None:
    # Checked here rather than by CSRFProtect's default hook, which cannot exempt paths by prefix.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)

    @app.before_request
    def _protect_forms() -> None:
        if request.method in UNSAFE_METHODS and not request.path.startswith(NO_CSRF_PREFIXES):
            csrf.protect()


def _register_error_pages(app: Flask) -> None:
    # The JSON handlers polis.web registered: kept for the API, replaced by pages elsewhere.
    json_handlers: dict[type[Exception], Any] = dict(app.error_handler_spec[None][None])

    def as_json(exc: Exception, kind: type[Exception]) -> Any:
        return json_handlers[kind](exc)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        if not wants_page():
            return as_json(exc, HTTPException)
        log.info("form refused: %s", exc.description)
        return render_error_page(400, csrf=True), 400

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Any:
        if not wants_page():
            return as_json(exc, ApiError)
        return render_error_page(exc.status), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if not wants_page():
            return as_json(exc, HTTPException)
        status = exc.code or 500
        response = Response(render_error_page(status), status=status, mimetype="text/html")
        if status == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if not wants_page():
            return as_json(exc, Exception)
        # The stack trace goes to the log (with the request id), never into the page.
        log.exception("unexpected error")
        return render_error_page(500), 500


__all__ = ["babel", "csrf", "register_pages", "wants_page"]
