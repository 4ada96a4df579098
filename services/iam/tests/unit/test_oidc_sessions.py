"""The SSO session's rules: idle and absolute timeouts, credentials_version, states; safe ?next=."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from iam.accounts.models import Account, AccountState
from iam.signin.models import SsoSession
from iam.signin.sessions import SsoPolicy, is_live, login_url, safe_next

POLICY = SsoPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=8), secure_cookie=False)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def pair(**changes: object) -> tuple[SsoSession, Account]:
    account = Account(id=uuid.uuid4(), state=AccountState.ACTIVE.value, credentials_version=3)
    row = SsoSession(
        account_id=account.id,
        credentials_version=3,
        created_at=NOW - timedelta(hours=1),
        last_seen_at=NOW - timedelta(minutes=5),
        expires_at=NOW + timedelta(hours=7),
        ended_at=None,
    )
    for name, value in changes.items():
        target = account if name in ("state", "account_version") else row
        setattr(target, "credentials_version" if name == "account_version" else name, value)
    return row, account


def test_a_fresh_session_is_live() -> None:
    assert is_live(*pair(), POLICY, NOW)


@pytest.mark.parametrize(
    "changes",
    [
        {"last_seen_at": NOW - timedelta(minutes=31)},  # idle timeout
        {"expires_at": NOW - timedelta(seconds=1)},  # absolute timeout
        {"ended_at": NOW - timedelta(minutes=1)},  # logged out
        {"account_version": 4},  # the password changed: every session ends
        {"state": AccountState.REVOKED.value},
        {"state": AccountState.DISABLED.value},
    ],
)
def test_a_session_ends(changes: dict) -> None:
    assert not is_live(*pair(**changes), POLICY, NOW)


def test_a_must_change_session_is_live_for_the_forced_change() -> None:
    assert is_live(*pair(state=AccountState.MUST_CHANGE_PASSWORD.value), POLICY, NOW)


def test_naive_sqlite_datetimes_are_read_as_utc() -> None:
    row, account = pair(last_seen_at=(NOW - timedelta(minutes=5)).replace(tzinfo=None))
    assert is_live(row, account, POLICY, NOW)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/iam/area-riservata", "/iam/area-riservata"),
        ("/oidc/authorize?client_id=portal", "/oidc/authorize?client_id=portal"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/ok\r\nSet-Cookie: x", "/"),
        (None, "/"),
    ],
)
def test_next_is_a_local_path_only(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_the_login_url_carries_next() -> None:
    assert login_url("/iam/area-riservata") == "/iam/accedi?next=%2Fiam%2Farea-riservata"
    assert login_url(None) == "/iam/accedi"
