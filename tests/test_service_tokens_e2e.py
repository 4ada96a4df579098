"""Services trust tokens, not headers, end to end (issue 5, item 5) with real processes: a user logs in to
the portal; the gateway forwards the access token IAM issued to the /api/ calls of that session; enablement
and istanze verify it against IAM's JWKS (fetched from IAM's internal address) and answer who the user is
and what they may do there. Without the session, or after logout, the services refuse the call."""

from __future__ import annotations

import urllib.parse

import pytest
from support.browser import Browser
from support.stack import SystemStack
from test_login_e2e import LANDING, PASSWORD, create_account, log_in

pytestmark = pytest.mark.slow


def test_the_services_verify_the_access_token_the_portal_forwards(stack: SystemStack) -> None:
    create_account(stack, "paolo.verdi")
    browser = Browser(stack.url())
    status, url, page = log_in(browser, "paolo.verdi", PASSWORD)
    assert status == 200 and urllib.parse.urlsplit(url).path == LANDING, (browser.trail, page[:500])

    for service, permissions in (
        ("enablement", ["enablement.read_own", "enablement.request"]),
        ("istanze", ["istanze.read_own", "istanze.submit"]),
    ):
        status, body = browser.api(f"/api/{service}/v1/me")
        assert status == 200, (service, body)
        assert body["kind"] == "user" and body["client_id"] == "portal"
        assert body["roles"] == ["user"] and service in body["scopes"]
        assert body["permissions"] == permissions

    # A header is not a token: without the session the service refuses.
    stranger = Browser(stack.url())
    status, body = stranger.api("/api/istanze/v1/me", headers={"X-User": "paolo.verdi"})
    assert status == 401 and body["error"]["code"] == "unauthorized"

    browser.log_out()
    status, body = browser.api("/api/istanze/v1/me")
    assert status == 401, body
