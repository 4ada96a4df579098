"""The gateway's shared store on a real Redis (production's backend): portal sessions (issue 11 item 6) and
refresh outcomes, with a redis-server started for these tests (tests/redis_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from conftest import Upstream
from gateway.auth.tokens import RedisOutcomes, outcome_store
from iam_double import ISSUER, FakeIam
from polis.config import Secret
from redis_server import RedisServer
from session_support import cookie_readings, log_in, log_out

from gateway import create_app

API = "/api/istanze/v1/things"
PREFIX = b"polis-gateway:refresh:"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with RedisServer() as server:
        yield server.url


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.close()


def gateway(redis_url: str, iam: FakeIam, upstream: Upstream) -> Any:
    return create_app(
        {
            "GATEWAY_SERVICES": {"iam": iam.url, "istanze": upstream.url},
            "GATEWAY_OIDC_ISSUER": ISSUER,
            "GATEWAY_OIDC_CLIENT_SECRET": Secret("portal-secret-for-tests"),
            "GATEWAY_SESSION_STORE": redis_url,
            "RATELIMIT_ENABLED": False,
        }
    )


@pytest.fixture
def apps(
    monkeypatch: pytest.MonkeyPatch, iam: FakeIam, upstream: Upstream, redis_url: str, client: redis.Redis
) -> tuple[Any, Any]:
    """Two gateway apps on one Redis: two processes or pods of the gateway."""
    monkeypatch.setenv("POLIS_ENV", "test")
    iam.reset()
    return gateway(redis_url, iam, upstream), gateway(redis_url, iam, upstream)


@pytest.fixture
def portal(apps: tuple[Any, Any], iam: FakeIam) -> Any:
    """Mario Rossi signed in at the first process."""
    signed_in = apps[0].test_client()
    log_in(signed_in, iam)
    return signed_in


def session_keys(client: redis.Redis) -> list[bytes]:
    return list(client.keys(PREFIX + b"session:*"))


def test_a_claim_on_redis_is_taken_once_and_its_outcome_shared(redis_url: str, client: redis.Redis) -> None:
    first, second = outcome_store(redis_url, timeout=1.0), RedisOutcomes.from_url(redis_url, timeout=1.0)

    assert first.claim("abc", ttl=5) is True
    assert second.claim("abc", ttl=5) is False
    first.put("abc", b"sealed", ttl=5)

    assert second.wait("abc", timeout=1.0) == b"sealed"
    assert 0 < client.pttl(PREFIX + b"abc") <= 5000


def test_issue_11_a_session_on_redis_keeps_its_tokens_sealed_there_and_none_in_the_cookie(
    apps: tuple[Any, Any], portal: Any, iam: FakeIam, client: redis.Redis
) -> None:
    [refresh_token] = iam.refresh_tokens
    cookie = portal.get_cookie("polis_session").value

    [key] = session_keys(client)
    entry = client.get(key)
    assert entry is not None
    for value in (iam.issued[-1], refresh_token, "mario.rossi"):
        assert all(value not in reading for reading in cookie_readings(cookie))
    for value in (iam.issued[-1], refresh_token, "mario.rossi", cookie.rsplit(".", 1)[0]):
        assert value.encode() not in entry and value.encode() not in key  # nor the id itself
    lifetime = apps[0].config["PERMANENT_SESSION_LIFETIME"]
    assert lifetime - 60 < client.ttl(key) <= lifetime  # the entry ends with the session


def test_a_session_nobody_signed_in_to_lives_an_hour_at_most(
    apps: tuple[Any, Any], client: redis.Redis
) -> None:
    """A login in progress is stored (its state, nonce and PKCE verifier) but not for eight hours."""
    first, _ = apps
    assert first.test_client().get("/accedi").status_code == 303

    [key] = session_keys(client)
    assert 3500 < client.ttl(key) <= 3600


def test_a_session_made_by_one_gateway_process_works_in_another(
    apps: tuple[Any, Any], portal: Any, iam: FakeIam
) -> None:
    other = apps[1].test_client()
    other.set_cookie("polis_session", portal.get_cookie("polis_session").value)

    assert other.get("/area-personale").status_code == 200
    answer = other.get(API)
    assert answer.get_json()["headers"]["Authorization"] == f"Bearer {iam.issued[-1]}"


def test_logout_deletes_the_session_from_redis_and_a_replayed_cookie_is_refused(
    apps: tuple[Any, Any], portal: Any, client: redis.Redis
) -> None:
    stolen = portal.get_cookie("polis_session").value
    assert len(session_keys(client)) == 1

    assert log_out(portal).status_code == 303

    assert session_keys(client) == []
    thief = apps[1].test_client()
    thief.set_cookie("polis_session", stolen)
    assert thief.get("/area-personale").status_code == 302
    assert thief.get(API).get_json()["headers"].get("Authorization") is None


def test_a_refresh_on_one_process_is_adopted_by_the_other(
    apps: tuple[Any, Any], iam: FakeIam, client: redis.Redis
) -> None:
    """The session's entry holds the new tokens: the other process neither refreshes again nor sends the
    spent refresh token."""
    first, second = apps
    portal = first.test_client()
    log_in(portal, iam, expires_in=30)  # inside the refresh margin
    iam.expires_in = 900
    cookie = portal.get_cookie("polis_session").value

    assert portal.get(API).status_code == 200
    other = second.test_client()
    other.set_cookie("polis_session", cookie)
    answer = other.get(API)

    assert answer.get_json()["headers"]["Authorization"] == f"Bearer {iam.issued[-1]}"
    assert len(iam.refresh_grants()) == 1
    assert iam.revoked_families == set()
