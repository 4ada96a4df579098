"""Pages other services render (enablement's /abilitazione/..., istanze's /istanze/...): forwarded
with the portal session's access token, only the service's own cookies and the language, and only those
cookies set back (D-ENA-1)."""

import time

from gateway import create_app


def _app(settings, upstream):
    return create_app(
        {
            "GATEWAY_SERVICES": {"iam": upstream.url, "enablement": upstream.url, "istanze": upstream.url},
            "WTF_CSRF_ENABLED": True,
            **settings,
        }
    )


def test_a_service_page_gets_the_sessions_token_and_its_own_cookies_only(settings, upstream):
    client = _app(settings, upstream).test_client()
    with client.session_transaction() as session:
        session["tok"] = {"at": "the-users-access-token", "exp": int(time.time()) + 3600}
    client.set_cookie("enablement_session", "csrf-holder")
    client.set_cookie("iam_sso", "not-for-enablement")
    client.set_cookie("lang", "en")

    response = client.get("/abilitazione/operatore?q=ENA-AAAA-BBBB")

    echoed = response.get_json()
    assert echoed["path"] == "/abilitazione/operatore" and echoed["query"] == "q=ENA-AAAA-BBBB"
    assert echoed["headers"]["Authorization"] == "Bearer the-users-access-token"
    assert sorted(echoed["headers"]["Cookie"].split("; ")) == ["enablement_session=csrf-holder", "lang=en"]
    assert "Cookie" in response.headers["Vary"]


def test_without_a_session_the_page_goes_without_a_token(settings, upstream):
    echoed = (
        _app(settings, upstream).test_client().post("/abilitazione/richiesta", data={"a": "b"}).get_json()
    )
    assert "Authorization" not in echoed["headers"] and echoed["body"] == "a=b"


def test_a_service_may_not_set_the_portals_or_iams_cookies(settings, upstream):
    response = _app(settings, upstream).test_client().get("/abilitazione/cookies")
    assert response.headers.getlist("Set-Cookie") == []


def test_istanze_pages_get_the_sessions_token_and_only_istanze_cookies(settings, upstream):
    """Issue 15 item 9: Istanze OnLine's pages at /istanze/... are istanze's, reached like enablement's."""
    client = _app(settings, upstream).test_client()
    with client.session_transaction() as session:
        session["tok"] = {"at": "the-users-access-token", "exp": int(time.time()) + 3600}
    client.set_cookie("istanze_session", "csrf-holder")
    client.set_cookie("enablement_session", "not-for-istanze")

    echoed = client.post("/istanze/procedure/modello-d3/inoltro", data={"key": "k"}).get_json()

    assert echoed["path"] == "/istanze/procedure/modello-d3/inoltro" and echoed["body"] == "key=k"
    assert echoed["headers"]["Authorization"] == "Bearer the-users-access-token"
    assert echoed["headers"]["Cookie"] == "istanze_session=csrf-holder"
