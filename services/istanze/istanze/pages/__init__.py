"""Istanze OnLine's pages (through the gateway at /istanze/...): languages, CSRF, the layout, readable errors.

Shaped like enablement's pages: the gateway forwards the portal session's access token as
`Authorization: Bearer` and only istanze_* cookies and `lang`, and fills the header's account part
(polis.ui's marker). A page is guarded by `page_permission(name)`: no valid token -> the portal's login,
coming back here; a token without the permission -> a 403 page. Flask's session (the CSRF token) is
`istanze_session`. The views call the service functions only (applications, procedures, forms).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from polis.ui.pages import ServicePages

from istanze.permissions import PERMISSIONS

TRANSLATIONS = Path(__file__).parents[1] / "translations"
site = ServicePages("istanze", prefix="/istanze/", permissions=PERMISSIONS, translations=TRANSLATIONS)
# A page for holders of istanze's permission `name` (polis.ui.pages): others log in first, or get 403.
page_permission = site.permission


def register_pages(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # a long form may stay open for hours
    site.init_app(app)
    from istanze.pages import contacts, form, submission, views  # noqa: F401 - their views join the blueprint
    from istanze.pages.common import blueprint

    app.register_blueprint(blueprint)
