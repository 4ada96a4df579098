"""Enablement's page infrastructure: languages, CSRF for form posts, the shared layout, readable errors.

The pages reach the browser through the gateway at /abilitazione/... (it forwards the portal session's
access token as `Authorization: Bearer`, and only enablement_* cookies and `lang`). A page view is guarded by
`page_permission(name)`: no valid token -> the portal's login, coming back here; a token without the
permission -> a 403 page. Flask's session (the CSRF token) is `enablement_session`.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from polis.ui.pages import ServicePages

from enablement.permissions import PERMISSIONS

TRANSLATIONS = Path(__file__).parents[1] / "translations"
site = ServicePages("enablement", prefix="/abilitazione/", permissions=PERMISSIONS, translations=TRANSLATIONS)
# A page for holders of permission `name` (polis.ui.pages): others log in first, or get a 403 page.
page_permission = site.permission


def register_pages(app: Flask) -> None:
    site.init_app(app)
    from enablement.offices.pages import blueprint as office_pages
    from enablement.personal_codes.pages import blueprint as code_pages
    from enablement.requests.pages import blueprint as request_pages

    app.register_blueprint(request_pages)
    app.register_blueprint(code_pages)
    app.register_blueprint(office_pages)
