"""Enablement's page infrastructure: languages, CSRF for form posts, the shared layout, readable errors.

The pages reach the browser through the gateway at /abilitazione/... (it forwards the portal session's
access token as `Authorization: Bearer`, and only enablement_* cookies and `lang`). A page view is guarded by
`page_permission(name)`: no valid token -> the portal's login, coming back here; a token without the
permission -> a 403 page. Flask's session (the CSRF token) is `enablement_session`.
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
from polis.ui import prepare_catalogs, register_ui
from polis.ui.i18n import select_locale

from enablement.permissions import PERMISSIONS

log = logging.getLogger("enablement.pages")
babel = Babel()
csrf = CSRFProtect()
TRANSLATIONS = Path(__file__).parents[1] / "translations"
PAGES = "/abilitazione/"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
F = TypeVar("F", bound=Callable[..., Any])


def register_pages(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)

    @app.before_request
    def _protect_forms() -> None:
        if request.method in UNSAFE_METHODS and request.path.startswith(PAGES):
            csrf.protect()

    register_ui(app, home_url="/", login_url="/accedi", language_url="/lingua/{code}", static_url="/static")
    prepare_catalogs(TRANSLATIONS, environment=app.config.get("POLIS_ENV"))
    pages.register_error_pages(app, PAGES, log)
    from enablement.offices.pages import blueprint as office_pages
    from enablement.personal_codes.pages import blueprint as code_pages
    from enablement.requests.pages import blueprint as request_pages

    app.register_blueprint(request_pages)
    app.register_blueprint(code_pages)
    app.register_blueprint(office_pages)


def page_permission(name: str) -> Callable[[F], F]:
    """A page for holders of permission `name` (polis.ui.pages): others log in first, or get a 403 page."""
    return pages.page_permission(PERMISSIONS, name)
