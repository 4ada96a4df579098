"""IAM's pages and OpenID Connect endpoints, forwarded by the gateway with IAM's cookies only."""

import re

import pytest
from gateway.api import pages

from gateway import create_app


def test_an_iam_page_reaches_iam_with_its_path_query_and_the_edge_request_id(client):
    response = client.get("/iam/registrazione/step1?x=1")
    echoed = response.get_json()
    assert response.status_code == 200
    assert echoed["path"] == "/iam/registrazione/step1"
    assert echoed["query"] == "x=1"
    assert echoed["headers"]["X-Request-Id"] == response.headers["X-Request-ID"]
    assert echoed["headers"]["X-Forwarded-Host"] == "localhost"


def test_oidc_endpoints_and_the_discovery_document_are_forwarded(client):
    assert client.get("/oidc/jwks").get_json()["path"] == "/oidc/jwks"
    discovery = client.get("/.well-known/openid-configuration").get_json()
    assert discovery["path"] == "/.well-known/openid-configuration"


def test_only_iam_and_language_cookies_travel_to_iam(client):
    client.set_cookie("iam_sso", "abc")
    client.set_cookie("lang", "en")
    client.set_cookie("polis_session", "the-portal-session")
    client.set_cookie("tracker", "x")
    cookie = client.get("/iam/area-riservata").get_json()["headers"]["Cookie"]
    assert sorted(cookie.split("; ")) == ["iam_sso=abc", "lang=en"]


def test_iam_may_set_its_own_cookies_but_never_the_portals(client):
    response = client.get("/iam/cookies")
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("iam_sso=") for c in cookies)
    assert not any(c.startswith("polis_session=forged") for c in cookies)


def test_forwarded_pages_carry_the_gateways_security_headers(client):
    response = client.get("/iam/accedi")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_form_post_to_iam_needs_no_gateway_csrf_token_because_iam_checks_its_own(client):
    response = client.post("/iam/accedi", data={"username": "mario.rossi", "password": "x"})
    assert response.status_code == 200
    assert response.get_json()["body"] == "username=mario.rossi&password=x"


def test_iam_down_is_a_readable_503_page_without_a_stack_trace(settings):
    from conftest import free_port_url

    app = create_app({"GATEWAY_SERVICES": {"iam": free_port_url()}, **settings})
    response = app.test_client().get("/iam/accedi", headers={"Accept": "text/html"})
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "080 9267603" in body  # the helpdesk contact, D-ACC-9
    assert "Traceback" not in body


@pytest.mark.parametrize("path", ["/iam/accedi", "/iam/password-dimenticata"])
def test_credential_forms_have_the_stricter_per_address_limit(settings, upstream, path):
    app = create_app(
        {
            "GATEWAY_SERVICES": {"iam": upstream.url},
            "RATELIMIT_AUTHENTICATION": "2 per minute",
            **settings,
        }
    )
    client = app.test_client()
    statuses = [client.post(path, data={"a": "b"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    # Reading pages is not a credential attempt: GETs stay under the general limit only.
    assert client.get(path).status_code == 200


def test_issue_5_token_endpoints_have_their_own_limit_not_the_login_one(settings, upstream):
    app = create_app(
        {
            "GATEWAY_SERVICES": {"iam": upstream.url},
            "RATELIMIT_AUTHENTICATION": "1 per minute",
            "RATELIMIT_DEFAULT": "1 per minute",
            "RATELIMIT_TOKEN_ENDPOINTS": "3 per minute",
            **settings,
        }
    )
    client = app.test_client()

    statuses = {
        path: [client.post(path, data={"grant_type": "x"}).status_code for _ in range(4)]
        for path in pages.TOKEN_ENDPOINTS
    }

    # A partner server's token calls pass the login and general limits, and stop at their own.
    assert statuses == {path: [200, 200, 200, 429] for path in pages.TOKEN_ENDPOINTS}
    assert client.post("/oidc/token").headers.get("Retry-After")


def test_a_page_over_the_general_limit_states_the_real_wait_and_leads_back_to_the_form(settings, upstream):
    """Issue 13 item 4: not "Attendi qualche minuto" with no way back: the minutes left in the window."""
    app = create_app(
        {"GATEWAY_SERVICES": {"iam": upstream.url}, "RATELIMIT_DEFAULT": "2 per hour", **settings}
    )
    client = app.test_client()
    referrer = {"Referer": "http://localhost/iam/password-dimenticata?next=/"}
    for _ in range(2):
        client.post("/iam/password-dimenticata", data={"a": "b"}, headers=referrer)

    refused = client.post("/iam/password-dimenticata", data={"a": "b"}, headers=referrer)
    for _ in range(2):
        client.get("/privacy")
    read_too_often = client.get("/privacy", headers={"Accept-Language": "en"})  # each page counts apart

    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    wait = re.search(r"Puoi riprovare tra (\d+) minuti \(alle \d{2}:\d{2}\)\.", page)
    assert wait and 59 <= int(wait.group(1)) <= 61  # the hour's window, not "a few minutes"
    assert 'href="/iam/password-dimenticata?next=/" id="rate-limit-back"' in page
    english = read_too_often.get_data(as_text=True)
    assert read_too_often.status_code == 429 and "You can try again in" in english
    assert 'id="rate-limit-back"' not in english  # a page, not a form: the home link is there already
