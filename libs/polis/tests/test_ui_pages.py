"""polis.ui.pages, what enablement's and istanze's pages share: a page guarded by a permission (no token ->
the login, coming back; no permission -> the 403 page) and error pages only under the pages' prefix."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from flask_babel import Babel
from polis.auth import OPS, USER, Permissions, permission, register_token_auth
from polis.testing.token_contract import bearer
from polis.testing.tokens import TestIssuer
from polis.ui import register_ui
from polis.ui.i18n import select_locale
from polis.ui.pages import page_permission, register_error_pages
from polis.web import register_platform

AUDIENCE = "urn:polis:demo"
PERMISSIONS = Permissions(
    "demo", {"demo.read_own": permission("demo", USER), "demo.ops": permission("demo", OPS)}
)


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


def make_app(issuer: TestIssuer) -> Flask:
    app = Flask("pages-test")
    app.config.update(
        POLIS_ENV="test",
        SECRET_KEY="test-secret",
        **issuer.app_settings(AUDIENCE),
    )
    register_platform(app, service="demo", version="1.0")
    register_token_auth(app, PERMISSIONS)
    Babel(app, locale_selector=select_locale)
    register_ui(app)
    register_error_pages(app, "/pagine/", logging.getLogger("test"))

    @app.get("/pagine/mie")
    @page_permission(PERMISSIONS, "demo.read_own")
    def mine() -> Any:
        return "le mie pagine"

    @app.get("/pagine/guasto")
    def broken() -> Any:
        raise RuntimeError("a bug")

    return app


def test_a_page_sends_to_login_without_a_token_and_refuses_without_the_permission(issuer: TestIssuer) -> None:
    client = make_app(issuer).test_client()
    anonymous = client.get("/pagine/mie?x=1")
    assert (
        anonymous.status_code == 303 and anonymous.headers["Location"] == "/accedi?next=/pagine/mie%3Fx%3D1"
    )
    user = client.get("/pagine/mie", headers=bearer(issuer.token(audience=AUDIENCE, scope="openid demo")))
    assert user.status_code == 200 and user.get_data(as_text=True) == "le mie pagine"
    service = issuer.token(
        audience=AUDIENCE, sub="ops", client_id="ops", auth_time=None, roles=["ops"], scope="demo"
    )
    refused = client.get("/pagine/mie", headers=bearer(service))
    assert refused.status_code == 403 and "<html" in refused.get_data(as_text=True)


def test_errors_are_pages_under_the_prefix_and_json_elsewhere(issuer: TestIssuer) -> None:
    client = make_app(issuer).test_client()
    missing = client.get("/pagine/nessuna")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    broken = client.get("/pagine/guasto")
    assert broken.status_code == 500 and "a bug" not in broken.get_data(as_text=True)
    api = client.get("/api/demo/v1/nothing")
    assert api.status_code == 404 and api.is_json
