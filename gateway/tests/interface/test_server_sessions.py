"""Issue 11 item 6 and issue 13 item 7: the portal session lives on the server (the cookie carries only its
id: no token, no personal data), logout is a POST with a CSRF token, and a cookie copied before the logout
is worth nothing after it. The store is each of the gateway's backends (memory://, sqlite:///); Redis is
tests/interface/test_redis_store.py, with a real redis-server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import Upstream
from gateway.sessions import session_store
from iam_double import ISSUER, FakeIam
from polis.config import Secret
from session_support import cookie_readings, log_in, log_out, logout_token

from gateway import create_app

API = "/api/istanze/v1/things"


@pytest.fixture(params=["memory", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'sessions.sqlite3'}"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, iam: FakeIam, upstream: Upstream, store_url: str) -> Any:
    monkeypatch.setenv("POLIS_ENV", "test")
    iam.reset()
    return create_app(
        {
            "GATEWAY_SERVICES": {"iam": iam.url, "istanze": upstream.url, "enablement": upstream.url},
            "GATEWAY_OIDC_ISSUER": ISSUER,
            "GATEWAY_OIDC_CLIENT_SECRET": Secret("portal-secret-for-tests"),
            "GATEWAY_SESSION_STORE": store_url,
            "RATELIMIT_ENABLED": False,
        }
    )


@pytest.fixture
def portal(app: Any) -> Any:
    return app.test_client()


def session_cookie(portal: Any) -> str:
    return portal.get_cookie("polis_session").value


def forwarded_token(response: Any) -> str | None:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["headers"].get("Authorization")


def test_issue_11_the_session_cookie_carries_no_token_and_no_personal_data(portal: Any, iam: FakeIam) -> None:
    log_in(portal, iam)
    [refresh_token] = iam.refresh_tokens
    secrets_in_session = [iam.issued[-1], refresh_token, "mario.rossi", "Rossi", "example.org"]
    id_token_payload = iam.id_token().split(".")[1]  # the claims part, the same in every ID token issued

    readings = cookie_readings(session_cookie(portal))

    for reading in readings:
        for value in [*secrets_in_session, id_token_payload]:
            assert value not in reading, f"{value[:20]}... is in the cookie"
    assert len(session_cookie(portal)) < 100  # an id and its signature, nothing else
    assert forwarded_token(portal.get(API)) == f"Bearer {iam.issued[-1]}"  # the tokens are on the server


def test_the_store_holds_the_session_sealed(app: Any, portal: Any, iam: FakeIam) -> None:
    """Whoever reads the store (Redis, the SQLite file) finds neither a token nor the cookie."""
    log_in(portal, iam)
    cookie = session_cookie(portal)
    [refresh_token] = iam.refresh_tokens
    store = session_store(app)
    secret = cookie.rsplit(".", 1)[0]
    [entry] = [v for k, v in _entries(store).items() if k.startswith("session:")]

    for value in (iam.issued[-1], refresh_token, "mario.rossi", secret):
        assert value.encode() not in entry


def _entries(store: Any) -> dict[str, bytes]:
    """Every live entry of a memory:// or sqlite:/// store (test introspection)."""
    if hasattr(store, "_entries"):
        return {k: v[1] for k, v in store._entries.items() if v[1] is not None}
    rows = store._db().execute("SELECT key, value FROM outcomes WHERE value IS NOT NULL").fetchall()
    return {key: bytes(value) for key, value in rows}


def test_issue_11_a_cookie_replayed_after_logout_is_refused(portal: Any, iam: FakeIam) -> None:
    log_in(portal, iam)
    stolen = session_cookie(portal)
    assert portal.get("/area-personale").status_code == 200

    assert log_out(portal).status_code == 303

    thief = portal.application.test_client()
    thief.set_cookie("polis_session", stolen)
    assert thief.get("/area-personale").status_code == 302  # to the login
    assert forwarded_token(thief.get(API)) is None
    assert "Mario" not in thief.get("/abilitazione/x/layout").get_data(as_text=True)


def test_logout_deletes_the_sessions_entry(app: Any, portal: Any, iam: FakeIam) -> None:
    log_in(portal, iam)
    assert [k for k in _entries(session_store(app)) if k.startswith("session:")]

    log_out(portal)

    assert not [k for k in _entries(session_store(app)) if k.startswith("session:")]


def test_a_session_ends_with_its_lifetime(
    monkeypatch: pytest.MonkeyPatch, iam: FakeIam, upstream: Upstream, store_url: str
) -> None:
    monkeypatch.setenv("POLIS_ENV", "test")
    iam.reset()
    app = create_app(
        {
            "GATEWAY_SERVICES": {"iam": iam.url, "istanze": upstream.url, "enablement": upstream.url},
            "GATEWAY_OIDC_ISSUER": ISSUER,
            "GATEWAY_SESSION_STORE": store_url,
            "PERMANENT_SESSION_LIFETIME": 1,
            "RATELIMIT_ENABLED": False,
        }
    )
    portal = app.test_client()
    log_in(portal, iam)
    cookie = session_cookie(portal)
    deadline = time.monotonic() + 10
    replay = app.test_client()
    replay.set_cookie("polis_session", cookie)
    while replay.get("/area-personale").status_code == 200:  # the entry's time to live: 1 s
        assert time.monotonic() < deadline, "the session outlived its lifetime"
        time.sleep(0.1)
        replay.set_cookie("polis_session", cookie)

    assert replay.get("/area-personale").status_code == 302


def test_a_planted_session_id_never_becomes_a_session(portal: Any, iam: FakeIam, app: Any) -> None:
    """Fixation: an id the store does not know is not adopted; the login gets a new one anyway."""
    from gateway.sessions import session_codec

    planted = session_codec(app).signer.sign("an-id-the-attacker-knows").decode()
    portal.set_cookie("polis_session", planted)

    log_in(portal, iam)

    assert session_cookie(portal) != planted
    assert not session_cookie(portal).startswith("an-id-the-attacker-knows")


# --- logout: a POST with a CSRF token; a GET only asks (issue 13 item 7) --------------------------------


def test_issue_13_a_get_of_the_logout_url_asks_and_logs_nobody_out(portal: Any, iam: FakeIam) -> None:
    log_in(portal, iam)

    page = portal.get("/esci")

    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Vuoi uscire da Istanze OnLine?" in html
    assert '<form method="post" action="/esci"' in html and 'name="csrf_token"' in html
    assert iam.revoked == []
    assert portal.get("/area-personale").status_code == 200  # still signed in


def test_the_logout_confirmation_in_english(portal: Any, iam: FakeIam) -> None:
    log_in(portal, iam)
    portal.set_cookie("lang", "en")

    html = portal.get("/esci").get_data(as_text=True)

    assert "Do you want to log out of Istanze OnLine?" in html and ">Log out<" in html and ">Cancel<" in html


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_a_logout_post_without_this_sessions_token_is_refused(portal: Any, iam: FakeIam, token: Any) -> None:
    """A cross-site form cannot log the user out: it cannot know the token."""
    log_in(portal, iam)

    response = portal.post("/esci", data={} if token is None else {"csrf_token": token})

    assert response.status_code == 400
    assert "Il modulo è scaduto o non è valido" in response.get_data(as_text=True)
    assert iam.revoked == []
    assert portal.get("/area-personale").status_code == 200


def test_another_sessions_logout_token_does_not_log_this_one_out(app: Any, iam: FakeIam) -> None:
    first, second = app.test_client(), app.test_client()
    log_in(first, iam)
    log_in(second, iam)

    response = second.post("/esci", data={"csrf_token": logout_token(first)})

    assert response.status_code == 400
    assert second.get("/area-personale").status_code == 200


def test_the_header_of_a_forwarded_page_logs_out_with_a_post(portal: Any, iam: FakeIam) -> None:
    """The header's "Esci" on a page IAM rendered (the gateway fills the account menu) carries the token."""
    import re

    log_in(portal, iam)
    page = portal.get("/abilitazione/x/layout").get_data(as_text=True)
    form = re.search(r'<form class="logout-form" method="post" action="/esci">.*?</form>', page, re.S)
    assert form is not None
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.group(0))
    assert token is not None

    response = portal.post("/esci", data={"csrf_token": token.group(1)})

    assert response.status_code == 303 and urlsplit(response.location).path == "/oidc/logout"
    assert portal.get("/area-personale").status_code == 302


def test_a_logout_without_a_session_just_goes_home(portal: Any) -> None:
    assert portal.get("/esci").location == "/"
    assert portal.post("/esci").location == "/"
