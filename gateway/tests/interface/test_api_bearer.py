"""The gateway forwards the user's access token (issue 5, item 5): /api/ calls from the portal's pages carry
`Authorization: Bearer <access token>` taken from the session; unsafe ones only from the portal's own pages
(CSRF); the token is refreshed before it runs out, a rotated refresh token is never sent twice, a refused
one ends the session, and logout revokes it at IAM.

IAM is tests/iam_double.py (refresh rotation with reuse detection like IAM's); the service is the echoing
upstream of conftest.py, so each test sees exactly which Authorization header reached the service."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import Upstream
from iam_double import ISSUER, FakeIam
from polis.config import Secret
from session_support import log_in as login
from session_support import log_out

from gateway import create_app

API = "/api/istanze/v1/things"
SECRET = "portal-secret-for-tests"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, iam: FakeIam, upstream: Upstream) -> Any:
    monkeypatch.setenv("POLIS_ENV", "test")
    iam.reset()
    return create_app(
        {
            "GATEWAY_SERVICES": {"iam": iam.url, "istanze": upstream.url},
            "GATEWAY_OIDC_ISSUER": ISSUER,
            "GATEWAY_OIDC_CLIENT_SECRET": Secret(SECRET),
            "RATELIMIT_ENABLED": False,
        }
    )


@pytest.fixture
def portal(app: Any) -> Any:
    return app.test_client()


def sent_authorization(response: Any) -> str | None:
    """The Authorization header the service received (the upstream echoes the request)."""
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["headers"].get("Authorization")


def cookie(portal: Any) -> str:
    return portal.get_cookie("polis_session").value


# --- forwarding ------------------------------------------------------------------------------------------


def test_an_api_call_from_a_signed_in_session_carries_the_users_access_token(
    portal: Any, iam: FakeIam
) -> None:
    login(portal, iam)

    response = portal.get(API)

    assert sent_authorization(response) == f"Bearer {iam.issued[-1]}"
    assert "Cookie" not in response.get_json()["headers"]  # the portal's cookie never reaches a service
    assert "Cookie" in response.headers.get("Vary", "")


def test_a_call_without_the_session_cookie_carries_no_token_and_does_no_session_work(
    app: Any, portal: Any, iam: FakeIam, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The P1 fast path: no cookie, no session decoding, no refresh."""
    bearer = app.extensions["gateway.portal_bearer"]
    monkeypatch.setattr(bearer, "token_for", lambda *a: pytest.fail("session work on a call without cookie"))

    assert sent_authorization(portal.get(API)) is None


def test_a_call_with_its_own_authorization_keeps_it(portal: Any, iam: FakeIam) -> None:
    login(portal, iam)

    response = portal.get(API, headers={"Authorization": "Bearer the-callers-own"})

    assert sent_authorization(response) == "Bearer the-callers-own"


def test_a_forged_session_cookie_carries_no_token(portal: Any, iam: FakeIam) -> None:
    login(portal, iam)
    portal.set_cookie("polis_session", cookie(portal)[:-4] + "AAAA")

    assert sent_authorization(portal.get(API)) is None


@pytest.mark.parametrize(
    ("headers", "attached"),
    [
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Origin": ISSUER}, True),  # a browser without fetch metadata, from the portal's own page
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, False),
        ({"Sec-Fetch-Site": "same-site", "Origin": "https://other.portal.test"}, False),
        ({"Origin": "https://evil.example"}, False),
        ({"Sec-Fetch-Site": "cross-site", "Origin": ISSUER}, False),  # fetch metadata decides
        ({}, False),  # no sign that the portal's pages sent it
    ],
)
def test_unsafe_calls_carry_the_token_only_from_the_portals_own_pages(
    portal: Any, iam: FakeIam, headers: dict[str, str], attached: bool
) -> None:
    """CSRF: a cross-site POST comes with the cookie (SameSite=Lax allows top-level POSTs in some browsers
    and every same-site one), but without the user's access token the service refuses it."""
    login(portal, iam)

    response = portal.post(API, json={"a": 1}, headers=headers)

    assert sent_authorization(response) == (f"Bearer {iam.issued[-1]}" if attached else None)


def test_safe_calls_carry_the_token_whatever_their_origin(portal: Any, iam: FakeIam) -> None:
    login(portal, iam)

    response = portal.get(API, headers={"Sec-Fetch-Site": "cross-site"})

    assert sent_authorization(response) == f"Bearer {iam.issued[-1]}"


# --- refresh ---------------------------------------------------------------------------------------------


def test_a_page_request_refreshes_a_token_about_to_expire(portal: Any, iam: FakeIam) -> None:
    login(portal, iam, expires_in=30)  # less than the 60 s margin
    first = iam.issued[-1]

    assert portal.get("/").status_code == 200

    [grant] = iam.refresh_grants()
    assert grant["authorization"].startswith("Basic ")
    assert sent_authorization(portal.get(API)) == f"Bearer {iam.issued[-1]}" != f"Bearer {first}"


def test_a_fresh_token_is_not_refreshed(portal: Any, iam: FakeIam) -> None:
    login(portal, iam)

    portal.get("/")
    portal.get(API)

    assert iam.refresh_grants() == []


def test_an_api_call_refreshes_inline_and_writes_the_new_session(portal: Any, iam: FakeIam) -> None:
    login(portal, iam, expires_in=30)
    before = cookie(portal)
    iam.expires_in = 900

    response = portal.get(API)

    assert sent_authorization(response) == f"Bearer {iam.issued[-1]}"
    set_cookie = response.headers["Set-Cookie"]
    assert (
        set_cookie.startswith("polis_session=") and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    )
    assert cookie(portal) == before  # the same session id: the new tokens are in the session's entry
    portal.get(API)
    portal.get("/")
    assert len(iam.refresh_grants()) == 1  # the new session holds the new tokens


def test_requests_still_carrying_a_spent_refresh_token_adopt_its_outcome(portal: Any, iam: FakeIam) -> None:
    """A page's parallel calls all carry the old cookie: only the first spends the refresh token, the
    others get the same new tokens instead of sending it again (which would revoke the family)."""
    login(portal, iam, expires_in=30)
    old = cookie(portal)
    iam.expires_in = 900
    first = sent_authorization(portal.get(API))

    portal.set_cookie("polis_session", old)
    second = portal.get(API)

    assert sent_authorization(second) == first
    assert len(iam.refresh_grants()) == 1
    assert iam.revoked_families == set()


def test_concurrent_calls_spend_one_refresh_token_once(app: Any, iam: FakeIam) -> None:
    portal = app.test_client()
    login(portal, iam, expires_in=30)
    old = cookie(portal)
    iam.hold_refresh = threading.Event()
    iam.refresh_arrived.clear()
    seen: list[str | None] = []

    def call() -> None:
        client = app.test_client()
        client.set_cookie("polis_session", old)
        seen.append(sent_authorization(client.get(API)))

    threads = [threading.Thread(target=call) for _ in range(3)]
    threads[0].start()
    assert iam.refresh_arrived.wait(5)  # the first call is spending the token at IAM, held there
    for thread in threads[1:]:
        thread.start()
    iam.hold_refresh.set()
    for thread in threads:
        thread.join(10)

    assert len(iam.refresh_grants()) == 1
    assert seen == [f"Bearer {iam.issued[-1]}"] * 3
    assert iam.revoked_families == set()


def test_a_refused_refresh_token_ends_the_portal_session(portal: Any, iam: FakeIam) -> None:
    login(portal, iam, expires_in=30)
    iam.revoked_families.update(iam.refresh_tokens.values())  # e.g. the password was changed elsewhere

    portal.get("/")

    assert portal.get("/area-personale").status_code == 302  # back to the login


def test_a_refused_refresh_on_an_api_call_ends_the_session_and_sends_no_token(
    portal: Any, iam: FakeIam
) -> None:
    login(portal, iam, expires_in=30)
    iam.revoked_families.update(iam.refresh_tokens.values())

    response = portal.get(API)

    assert sent_authorization(response) is None
    assert "polis_session=;" in response.headers["Set-Cookie"]
    assert portal.get("/area-personale").status_code == 302


def test_an_unavailable_iam_keeps_the_session_and_its_still_valid_token(portal: Any, iam: FakeIam) -> None:
    login(portal, iam, expires_in=30)
    iam.down = True

    response = portal.get(API)

    assert sent_authorization(response) == f"Bearer {iam.issued[-1]}"
    iam.down = False
    portal.get(API)
    assert len(iam.refresh_grants()) == 2  # tried again once IAM answered; the token was not spent


# --- logout and the cookie -------------------------------------------------------------------------------


def test_logout_revokes_the_refresh_token_at_iam_before_the_end_session_redirect(
    portal: Any, iam: FakeIam
) -> None:
    login(portal, iam)
    [live] = iam.refresh_tokens

    response = log_out(portal)

    assert response.status_code == 303 and urlsplit(response.location).path == "/oidc/logout"
    [revocation] = iam.revoked
    assert revocation["form"] == {"token": live, "token_type_hint": "refresh_token"}
    assert revocation["authorization"].startswith("Basic ")
    assert sent_authorization(portal.get(API)) is None


def test_logout_revokes_an_expiring_refresh_token_without_spending_it_first(
    portal: Any, iam: FakeIam
) -> None:
    login(portal, iam, expires_in=30)
    [live] = iam.refresh_tokens

    log_out(portal)

    assert iam.refresh_grants() == []
    assert [r["form"]["token"] for r in iam.revoked] == [live]


def test_logout_goes_on_when_iam_cannot_revoke(monkeypatch: pytest.MonkeyPatch, iam: FakeIam) -> None:
    monkeypatch.setenv("POLIS_ENV", "test")
    from conftest import free_port_url

    app = create_app({"GATEWAY_SERVICES": {"iam": free_port_url()}, "GATEWAY_OIDC_ISSUER": ISSUER})
    portal = app.test_client()
    with portal.session_transaction() as session:
        session["user"] = {"sub": "s", "username": "mario.rossi"}
        session["tok"] = {"at": "a", "exp": int(time.time()) + 900, "rt": "r"}

    response = log_out(portal)

    assert response.status_code == 303 and urlsplit(response.location).path == "/oidc/logout"


def test_the_session_cookie_stays_well_under_the_browsers_limit(portal: Any, iam: FakeIam) -> None:
    login(portal, iam)

    assert len(cookie(portal)) < 3000  # browsers keep cookies up to 4096 bytes


# --- back-channel logout (issue 5 item 4) -----------------------------------------------------------------


def logout_token(iam: FakeIam, **overrides: Any) -> str:
    from joserfc import jwt

    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "portal",
        "iat": now,
        "exp": now + 120,
        "jti": f"jti-{now}-{len(overrides)}",
        "sub": "9b1d2c1e-0000-4000-8000-000000000001",
        "sid": "s-1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        **overrides,
    }
    claims = {name: value for name, value in claims.items() if value is not None}
    header = {"alg": "ES256", "kid": iam.key.kid, "typ": "logout+jwt"}
    return jwt.encode(header, claims, iam.key, algorithms=["ES256"])


def backchannel(portal: Any, token: str) -> Any:
    return portal.post("/accedi/backchannel-logout", data={"logout_token": token})


def test_issue_5_a_back_channel_logout_ends_the_portal_session_born_of_that_sso_session(
    app: Any, iam: FakeIam
) -> None:
    portal = app.test_client()
    login(portal, iam)
    assert portal.get("/area-personale").status_code == 200
    assert sent_authorization(portal.get(API))

    answer = app.test_client().post("/accedi/backchannel-logout", data={"logout_token": logout_token(iam)})

    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    # The API call no longer carries the user's token, and the pages ask for the login again.
    assert sent_authorization(portal.get(API)) is None
    assert portal.get("/area-personale").status_code == 302


def test_issue_5_a_back_channel_logout_of_another_sso_session_changes_nothing(
    portal: Any, iam: FakeIam
) -> None:
    login(portal, iam)

    assert backchannel(portal, logout_token(iam, sid="another-session")).status_code == 200

    assert portal.get("/area-personale").status_code == 200
    assert sent_authorization(portal.get(API))


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "pagoinrete"},  # for another client
        {"iss": "https://elsewhere.example.org"},
        {"events": None},  # not a logout event
        {"nonce": "n-1"},  # an ID token's nonce: refused by the spec
        {"sid": None},
        {"iat": int(time.time()) - 3600, "exp": int(time.time()) + 60},  # too old
    ],
)
def test_issue_5_a_bad_logout_token_is_refused_and_ends_nothing(
    portal: Any, iam: FakeIam, overrides: dict[str, Any]
) -> None:
    login(portal, iam)

    answer = backchannel(portal, logout_token(iam, **overrides))

    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_request"
    assert portal.get("/area-personale").status_code == 200


def test_issue_5_a_logout_token_signed_by_someone_else_or_typed_otherwise_is_refused(
    portal: Any, iam: FakeIam
) -> None:
    from joserfc import jwt

    login(portal, iam)
    good = logout_token(iam)
    claims = jwt.decode(good, iam.key).claims
    forged = jwt.encode(
        {"alg": "ES256", "kid": iam.key.kid, "typ": "logout+jwt"}, claims, iam.other_key, algorithms=["ES256"]
    )
    id_token_typed = jwt.encode({"alg": "ES256", "kid": iam.key.kid}, claims, iam.key, algorithms=["ES256"])

    assert backchannel(portal, forged).status_code == 400
    assert backchannel(portal, id_token_typed).status_code == 400
    assert backchannel(portal, "not-a-token").status_code == 400
    assert portal.get("/area-personale").status_code == 200
