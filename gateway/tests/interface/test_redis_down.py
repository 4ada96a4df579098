"""The gateway when its Redis is down (issue 17 item 6; docs/architecture.md, "When Redis is down"): a real
redis-server killed -9 in the middle of each test, then started again on its port to show the recovery.

- Portal sessions and the ended SSO sessions (back-channel logout) live in Redis: while it does not answer
  no session is honoured (fail closed) - a page with the session cookie, or one that must write a session
  (the login), answers the 503 page; an /api/ call with the cookie the JSON 503; a back-channel logout is
  answered 503 so that IAM delivers it again. Pages that need no session are served.
- Rate limits fail open to this process's own counters (the same limits, counted per process), so the
  portal stays up and guessing stays bounded; the shared counting resumes once Redis answers.
- Refresh coordination: no refresh token is spent without a claim in the store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Upstream
from gateway.auth.tokens import RedisOutcomes, Refresher, SessionTokens, StoreUnavailable
from gateway.stepup import CredentialGuard, Windows
from iam_double import ISSUER, FakeIam
from polis.config import Secret
from redis_server import RedisServer
from session_support import log_in
from test_api_bearer import logout_token

from gateway import create_app

API = "/api/istanze/v1/things"


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer(persistent=True) as running:
        yield running


def gateway(server: RedisServer, iam: FakeIam, upstream: Upstream, **config: Any) -> Any:
    return create_app(
        {
            "GATEWAY_SERVICES": {"iam": iam.url, "istanze": upstream.url},
            "GATEWAY_OIDC_ISSUER": ISSUER,
            "GATEWAY_OIDC_CLIENT_SECRET": Secret("portal-secret-for-tests"),
            "GATEWAY_SESSION_STORE": server.url,
            "RATELIMIT_ENABLED": False,
            **config,
        }
    )


@pytest.fixture
def apps(
    monkeypatch: pytest.MonkeyPatch, iam: FakeIam, upstream: Upstream, server: RedisServer
) -> tuple[Any, Any]:
    """Two gateway processes on one Redis."""
    monkeypatch.setenv("POLIS_ENV", "test")
    iam.reset()
    return gateway(server, iam, upstream), gateway(server, iam, upstream)


def assert_unavailable_page(answer: Any) -> None:
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "30" and answer.headers["Cache-Control"] == "no-store"
    assert "Servizio temporaneamente non disponibile" in answer.get_data(as_text=True)
    assert "Traceback" not in answer.get_data(as_text=True)


def test_redis_down_no_session_is_honoured_and_the_user_signs_in_again_once_it_is_back(
    apps: tuple[Any, Any], iam: FakeIam, server: RedisServer
) -> None:
    first, second = apps
    portal = first.test_client()
    log_in(portal, iam)
    cookie = portal.get_cookie("polis_session").value
    other = second.test_client()
    other.set_cookie("polis_session", cookie)
    assert portal.get("/area-personale").status_code == 200

    server.kill()

    # Pages with the session cookie, in either process: the 503 page, the cookie left as it is.
    for client in (portal, other):
        answer = client.get("/area-personale")
        assert_unavailable_page(answer)
        assert "Set-Cookie" not in answer.headers
    # The API call is not forwarded, with or without the user's token: the JSON error shape.
    answer = portal.get(API)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert answer.get_json()["error"]["code"] == "service_unavailable"
    # A page that needs no session is served; a login, which must write one, is not started.
    stranger = first.test_client()
    assert stranger.get("/").status_code == 200
    assert_unavailable_page(stranger.get("/accedi"))

    server.start()  # the same port; the session was appended to disk before the crash

    assert portal.get("/area-personale").status_code == 200
    assert other.get(API).get_json()["headers"]["Authorization"] == f"Bearer {iam.issued[-1]}"
    fresh = second.test_client()
    log_in(fresh, iam)
    assert fresh.get("/area-personale").status_code == 200


def test_redis_down_a_back_channel_logout_is_refused_so_that_iam_delivers_it_again(
    apps: tuple[Any, Any], iam: FakeIam, server: RedisServer
) -> None:
    """IAM retries a failed delivery (IAM_BACKCHANNEL_LOGOUT_RETRY_DELAYS): 200 would lose the logout."""
    first, second = apps
    portal = first.test_client()
    log_in(portal, iam)
    token = logout_token(iam)

    server.kill()
    answer = second.test_client().post("/accedi/backchannel-logout", data={"logout_token": token})

    assert answer.status_code == 503 and answer.headers["Cache-Control"] == "no-store"
    assert answer.get_json()["error"] == "temporarily_unavailable"
    assert_unavailable_page(portal.get("/area-personale"))  # meanwhile, not honoured either

    server.start()
    assert portal.get("/area-personale").status_code == 200  # the logout never arrived...
    answer = second.test_client().post("/accedi/backchannel-logout", data={"logout_token": token})
    assert answer.status_code == 200  # ...until IAM's next attempt
    assert portal.get("/area-personale").status_code == 302
    assert portal.get(API).get_json()["headers"].get("Authorization") is None


def test_redis_down_no_refresh_token_is_spent_without_a_claim(server: RedisServer, iam: FakeIam) -> None:
    spent: list[str] = []

    def grant(refresh_token: str) -> dict[str, Any]:
        spent.append(refresh_token)
        return {"access_token": "at-2", "expires_in": 900, "refresh_token": "rt-2"}

    refresher = Refresher(store=RedisOutcomes.from_url(server.url, timeout=1.0), wait=1.0)
    expiring = SessionTokens("at-1", int(time.time()) + 10, "rt-1")

    server.kill()
    with pytest.raises(StoreUnavailable):
        refresher.current(expiring, grant)
    assert spent == []  # IAM never saw the refresh token: no second use, no revoked family

    server.start()
    renewed = refresher.current(expiring, grant)
    assert isinstance(renewed, SessionTokens) and renewed.access_token == "at-2"
    assert spent == ["rt-1"]


def hits(client: Any, count: int) -> list[int]:
    return [client.get(API).status_code for _ in range(count)]


def test_redis_down_api_rate_limits_fail_open_to_a_per_process_bound_then_shared_again(
    monkeypatch: pytest.MonkeyPatch, iam: FakeIam, upstream: Upstream, server: RedisServer
) -> None:
    monkeypatch.setenv("POLIS_ENV", "test")
    monkeypatch.setattr(Windows, "FALLBACK_RETRY", 0.0)  # Redis tried again at every hit
    limits = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": server.url,
        "RATELIMIT_DEFAULT": "5 per minute",
    }
    first, second = (gateway(server, iam, upstream, **limits).test_client() for _ in range(2))
    assert hits(first, 3) + hits(second, 3) == [200] * 5 + [429]  # one count for both processes

    server.kill()

    # Each process counts on its own: the portal answers, and each address stays bounded per process.
    assert hits(first, 6) == [200] * 5 + [429]
    assert hits(second, 6) == [200] * 5 + [429]

    server.start()

    # Back on Redis: a new address is counted once for both processes again.
    other = {"REMOTE_ADDR": "192.0.2.5"}
    assert [first.get(API, environ_base=other).status_code for _ in range(3)] == [200] * 3
    assert [second.get(API, environ_base=other).status_code for _ in range(3)] == [200] * 2 + [429]


def test_redis_down_page_rate_limits_fail_open_to_a_per_process_bound(
    monkeypatch: pytest.MonkeyPatch, iam: FakeIam, upstream: Upstream, server: RedisServer
) -> None:
    """Flask-Limiter's limits on pages: its in-memory fallback (RATELIMIT_IN_MEMORY_FALLBACK_ENABLED)."""
    monkeypatch.setenv("POLIS_ENV", "test")
    app = gateway(
        server,
        iam,
        upstream,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=server.url,
        RATELIMIT_DEFAULT="4 per minute",
    )
    client = app.test_client()
    assert [client.get("/privacy").status_code for _ in range(2)] == [200, 200]

    server.kill()

    statuses = [client.get("/privacy").status_code for _ in range(6)]
    assert 500 not in statuses and statuses[-1] == 429, statuses


def test_redis_down_the_credential_guard_keeps_its_bands_per_process(
    monkeypatch: pytest.MonkeyPatch, server: RedisServer
) -> None:
    """Login, registration and recovery attempts: step-up past the soft threshold, blocked past the hard
    one, while Redis is down as while it is up."""
    monkeypatch.setattr(Windows, "FALLBACK_RETRY", 0.0)
    config = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": server.url,
        "RATELIMIT_AUTHENTICATION": "2 per minute",
        "RATELIMIT_AUTHENTICATION_BLOCK": "4 per minute",
        "RATELIMIT_STEP_UP_TTL": 300,
        "RATELIMIT_STEP_UP_MAX_NUMBER": 1000,
        "RATELIMIT_KEY_PREFIX": "polis-gateway",
        "SECRET_KEY": "test-secret",
    }
    guard = CredentialGuard(config)
    assert guard.attempt("192.0.2.1", None).band == "pass"

    server.kill()

    bands = [guard.attempt("192.0.2.9", None).band for _ in range(5)]
    assert bands == ["pass", "pass", "step_up", "step_up", "blocked"]
    assert guard.required("192.0.2.9") is True

    server.start()

    # Back on Redis, which kept the first attempt of 192.0.2.1 (this process counted none of it).
    assert [guard.attempt("192.0.2.1", None).band for _ in range(2)] == ["pass", "step_up"]
