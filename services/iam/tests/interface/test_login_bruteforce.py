"""Brute-force protection (issue 3 item 9): growing locks per account, the same for unknown usernames,
at most 100 consecutive failures (NIST), release by time, by the emailed unlock link (test_login_unlock) or
by ops; uniform timing (D-ACC-4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.accounts.models import Account
from iam.audit.models import AuditEntry
from iam.extensions import db
from iam.passwords import hashing
from iam.signin import bruteforce
from iam.signin.models import LoginThrottle
from oidc_helpers import error_text, get_account, login, make_account, make_app
from polis.config import ConfigError
from sqlalchemy import select, update

WRONG = "non è questa la password"
LOCK = {"LOGIN_LOCK_THRESHOLD": 3, "LOGIN_LOCK_STEP_SECONDS": 60.0, "LOGIN_LOCK_MAX_SECONDS": 180.0}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url, **LOCK)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def fail(client: FlaskClient, times: int, username: str = "mario.rossi") -> list[int]:
    return [login(client, username=username, password=WRONG).status_code for _ in range(times)]


def test_the_account_locks_after_the_threshold_and_says_so(client: FlaskClient) -> None:
    account_id = make_account()

    assert fail(client, 2) == [401, 401]
    third = login(client, password=WRONG)

    assert third.status_code == 401
    assert "Troppi tentativi non riusciti" in error_text(third)
    account = get_account(account_id)
    assert account.failed_logins == 3 and account.locked_until is not None


def test_a_locked_account_refuses_even_the_right_password(client: FlaskClient) -> None:
    make_account()
    fail(client, 3)

    response = login(client)

    assert response.status_code == 401
    assert "Troppi tentativi non riusciti" in error_text(response)
    assert "iam_sso=" not in response.headers.get("Set-Cookie", "")


def test_an_unknown_username_locks_the_same_way(client: FlaskClient) -> None:
    """The lock must not tell whether the account exists."""
    make_account()
    known = [login(client, password=WRONG) for _ in range(4)]
    unknown = [login(client, username="nessuno.qui", password=WRONG) for _ in range(4)]

    def answer(response: object) -> tuple[int, bool]:
        return response.status_code, "Troppi tentativi non riusciti" in error_text(response)  # type: ignore[attr-defined]

    assert [answer(r) for r in known] == [answer(r) for r in unknown]
    with db.transaction() as session:
        assert session.scalars(select(LoginThrottle.failed_logins)).all() == [3]


def test_locks_grow_up_to_the_maximum_and_end_by_time(client: FlaskClient) -> None:
    account_id = make_account()
    fail(client, 3)
    first = get_account(account_id)
    lock_1 = bruteforce._utc(first.locked_until) - bruteforce._utc(first.last_failed_login_at)  # type: ignore[operator]

    # Time passes: the lock ends by itself, and the next failure locks for longer.
    with db.transaction() as session:
        session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    fail(client, 1)
    second = get_account(account_id)
    lock_2 = bruteforce._utc(second.locked_until) - bruteforce._utc(second.last_failed_login_at)  # type: ignore[operator]

    assert lock_1 == timedelta(seconds=60)
    assert lock_2 == timedelta(seconds=120)

    with db.transaction() as session:
        session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert login(client).status_code == 303  # released by time; the right password resets the count
    assert get_account(account_id).failed_logins == 0


def test_ops_unlock_an_account(client: FlaskClient) -> None:
    account_id = make_account()
    fail(client, 3)

    refused = client.post(f"/api/iam/v1/ops/accounts/{account_id}/unlock")
    response = client.post(
        f"/api/iam/v1/ops/accounts/{account_id}/unlock",
        headers={"Authorization": "Bearer polis-dev-ops-token"},
    )

    assert refused.status_code == 401
    assert response.status_code == 204
    assert get_account(account_id).locked_until is None
    assert login(client).status_code == 303
    with db.transaction() as session:
        assert "login.unlocked" in session.scalars(select(AuditEntry.action)).all()


def test_ops_unlock_of_an_unknown_account_is_404(client: FlaskClient) -> None:
    response = client.post(
        "/api/iam/v1/ops/accounts/00000000-0000-0000-0000-000000000000/unlock",
        headers={"Authorization": "Bearer polis-dev-ops-token"},
    )

    assert response.status_code == 404
    assert (
        response.get_json()["error"]["code"] if isinstance(response.get_json().get("error"), dict) else True
    )


def test_never_more_than_the_hard_limit_of_consecutive_failures() -> None:
    """NIST SP 800-63B: at most 100 consecutive failures; then only the emailed unlock link or ops lift it."""
    policy = bruteforce.LockPolicy(
        threshold=10,
        step=timedelta(minutes=1),
        max_wait=timedelta(minutes=15),
        reset_after=timedelta(hours=12),
        hard_limit=100,
    )
    account = Account(failed_logins=0)
    now = datetime.now(UTC)
    for _ in range(100):
        until = bruteforce.locked_until(account, now)
        if until is not None:
            now = until  # the attacker waits for every lock to end
        bruteforce.register_failure(account, policy, now)

    assert account.failed_logins == 100
    assert account.locked_until == bruteforce.HARD_LOCK


@pytest.mark.parametrize(
    "settings",
    [
        {"LOGIN_MAX_CONSECUTIVE_FAILURES": 101},
        {"LOGIN_LOCK_THRESHOLD": 0},
        {"LOGIN_LOCK_THRESHOLD": 50, "LOGIN_MAX_CONSECUTIVE_FAILURES": 40},
    ],
)
def test_settings_beyond_the_nist_limit_are_refused(settings: dict) -> None:
    base = {
        "LOGIN_LOCK_THRESHOLD": 10,
        "LOGIN_LOCK_STEP_SECONDS": 60.0,
        "LOGIN_LOCK_MAX_SECONDS": 900.0,
        "LOGIN_FAILURE_RESET_HOURS": 12.0,
        "LOGIN_MAX_CONSECUTIVE_FAILURES": 100,
    }
    with pytest.raises(ConfigError):
        bruteforce.LockPolicy.from_settings({**base, **settings})


def test_the_count_restarts_after_the_reset_window() -> None:
    policy = bruteforce.LockPolicy(
        threshold=3,
        step=timedelta(minutes=1),
        max_wait=timedelta(minutes=15),
        reset_after=timedelta(hours=12),
        hard_limit=100,
    )
    account = Account(failed_logins=2, last_failed_login_at=datetime.now(UTC) - timedelta(hours=13))

    assert bruteforce.register_failure(account, policy, datetime.now(UTC)) is None
    assert account.failed_logins == 1


@pytest.mark.parametrize("username", ["mario.rossi", "nessuno.qui"])
def test_every_path_costs_one_argon2_verification(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, username: str
) -> None:
    """Uniform timing: an unknown username, a wrong password and a locked name all verify one argon2 hash
    (measured as calls, not wall time)."""
    make_account()
    calls: list[str] = []
    real = hashing.verify_secret

    def counting(stored: str | None, secret: str, **kwargs: object) -> bool:
        calls.append(stored or "")
        return real(stored, secret, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hashing, "verify_secret", counting)
    for _ in range(4):  # three failures, then a locked attempt
        calls.clear()
        login(client, username=username, password=WRONG)
        assert len(calls) == 1
        assert calls[0].startswith("$argon2id$")
