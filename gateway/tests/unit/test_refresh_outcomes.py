"""Refresh outcomes shared between requests (gateway/auth/tokens.py, issue 5 item 5): a rotated refresh
token is spent once; latecomers adopt the outcome, which the store only holds encrypted."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from gateway.auth import client
from gateway.auth.tokens import ENDED, LocalOutcomes, RedisOutcomes, Refresher, SessionTokens, outcome_store


class FakeRedis:
    """The four commands RedisOutcomes uses, with Redis's semantics for SET NX PX."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, float]] = {}

    def set(self, name: str, value: bytes, nx: bool = False, px: int | None = None) -> bool | None:
        now = time.monotonic()
        live = name in self.data and self.data[name][1] > now
        if nx and live:
            return None
        self.data[name] = (value, now + (px or 10**9) / 1000)
        return True

    def get(self, name: str) -> bytes | None:
        entry = self.data.get(name)
        return entry[0] if entry and entry[1] > time.monotonic() else None

    def delete(self, name: str) -> int:
        return 1 if self.data.pop(name, None) else 0


class Grants:
    """IAM's refresh grant: counts calls, answers as told."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.answer: Any = {"access_token": "new-at", "expires_in": 900, "refresh_token": "new-rt"}

    def __call__(self, refresh_token: str) -> dict[str, Any]:
        self.calls.append(refresh_token)
        if isinstance(self.answer, Exception):
            raise self.answer
        return dict(self.answer)


def expiring(now: float) -> SessionTokens:
    return SessionTokens("old-at", int(now) + 30, "old-rt")


@pytest.fixture(params=["local", "redis"])
def refresher(request: pytest.FixtureRequest) -> Refresher:
    store = LocalOutcomes() if request.param == "local" else RedisOutcomes(FakeRedis())
    return Refresher(store=store, margin=60, grace=120, wait=2)


def test_fresh_tokens_are_left_alone(refresher: Refresher) -> None:
    grants = Grants()

    assert refresher.current(SessionTokens("at", int(time.time()) + 900, "rt"), grants) is None
    assert grants.calls == []


def test_expiring_tokens_are_refreshed_once_and_latecomers_adopt_the_outcome(refresher: Refresher) -> None:
    grants = Grants()
    tokens = expiring(time.time())

    first = refresher.current(tokens, grants)
    second = refresher.current(tokens, grants)

    assert (
        isinstance(first, SessionTokens)
        and first.access_token == "new-at"
        and first.refresh_token == "new-rt"
    )
    assert second == first
    assert grants.calls == ["old-rt"]


def test_a_refused_refresh_token_ends_the_session_for_every_request_that_carries_it(
    refresher: Refresher,
) -> None:
    grants = Grants()
    grants.answer = client.RefreshRefused("invalid_grant", "invalid_grant")
    tokens = expiring(time.time())

    assert refresher.current(tokens, grants) is ENDED
    assert refresher.current(tokens, grants) is ENDED
    assert len(grants.calls) == 1


def test_iam_unavailable_changes_nothing_and_the_next_request_tries_again(refresher: Refresher) -> None:
    grants = Grants()
    grants.answer = client.LoginFailed("token endpoint unreachable")
    tokens = expiring(time.time())

    assert refresher.current(tokens, grants) is None
    grants.answer = {"access_token": "new-at", "expires_in": 900}
    outcome = refresher.current(tokens, grants)

    assert isinstance(outcome, SessionTokens)
    assert outcome.refresh_token == "old-rt"  # IAM did not rotate it: the old one stays good
    assert len(grants.calls) == 2


def test_the_shared_store_holds_no_token_in_clear() -> None:
    redis = FakeRedis()
    refresher = Refresher(store=RedisOutcomes(redis), margin=60, grace=120, wait=2)

    refresher.current(expiring(time.time()), Grants())

    [(key, (value, _deadline))] = redis.data.items()
    assert "old-rt" not in key and b"new-at" not in value and b"new-rt" not in value


def test_a_latecomer_waits_for_the_refresh_in_progress() -> None:
    store = LocalOutcomes()
    refresher = Refresher(store=store, margin=60, grace=120, wait=5)
    release, arrived = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow_grant(refresh_token: str) -> dict[str, Any]:
        calls.append(refresh_token)
        arrived.set()
        release.wait(5)
        return {"access_token": "new-at", "expires_in": 900, "refresh_token": "new-rt"}

    tokens = expiring(time.time())
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(refresher.current(tokens, slow_grant)))
    first.start()
    assert arrived.wait(5)
    second = threading.Thread(target=lambda: results.append(refresher.current(tokens, slow_grant)))
    second.start()
    release.set()
    first.join(5)
    second.join(5)

    assert calls == ["old-rt"]
    assert [r.access_token for r in results] == ["new-at", "new-at"]


def test_a_latecomer_gives_up_after_its_wait_and_keeps_its_tokens() -> None:
    store = LocalOutcomes()
    assert store.claim("k", ttl=10)

    started = time.monotonic()
    assert store.wait("k", timeout=0.1) is None
    assert time.monotonic() - started < 2


def test_outcomes_expire_after_the_grace_period() -> None:
    now = [0.0]
    store = LocalOutcomes(clock=lambda: now[0])
    store.put("k", b"outcome", ttl=120)
    assert store.wait("k", timeout=0) == b"outcome"

    now[0] = 121

    assert store.wait("k", timeout=0) is None
    assert store.claim("k", ttl=5)


def test_the_store_is_chosen_by_its_url() -> None:
    assert isinstance(outcome_store("memory://", timeout=1), LocalOutcomes)
    assert isinstance(outcome_store("redis://127.0.0.1:1/0", timeout=1), RedisOutcomes)  # connects lazily
    with pytest.raises(ValueError):
        outcome_store("memcached://x", timeout=1)
