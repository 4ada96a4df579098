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
from pathlib import Path
from typing import Any, TypeVar

import polis.ui.pages as pages
from flask import Flask, request
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from polis.config import Env
from polis.ui import prepare_catalogs, register_ui, ui_settings
from polis.ui.i18n import select_locale

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
    pages.register_error_pages(app, PAGES, log)
    from istanze.pages import contacts, form, submission, views  # noqa: F401 - their views join the blueprint
    from istanze.pages.common import blueprint

    app.register_blueprint(blueprint)


def page_permission(name: str) -> Callable[[F], F]:
    """A page for holders of istanze's permission `name` (polis.ui.pages): others log in first, or get 403."""
    return pages.page_permission(PERMISSIONS, name)
