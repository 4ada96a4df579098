"""Issue 11 item 2 (D-ACC-4, D-ACC-6): every login attempt costs exactly one argon2 verification, whatever
is pending. Before, a wrong password cost one more run per outstanding temporary password (up to 4), so
timing one wrong login after a "Password dimenticata?" told whether the (username, codice fiscale) matched.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from iam.accounts import temporary_passwords as temporary
from iam.accounts.models import Account, TemporaryPassword
from iam.extensions import db
from iam.models import outbox
from iam.signin import bruteforce, unlock
from iam.signin.login import username_key
from iam.signin.models import LoginThrottle
from oidc_helpers import PASSWORD, issue_temporary_password, login, make_account, make_app
from sqlalchemy import func, select, update

WRONG = "non è questa la password"
TEMPORARY = "TmpPassw0rdAbcde"
LOCK = {"LOGIN_LOCK_THRESHOLD": 3, "LOGIN_LOCK_STEP_SECONDS": 600.0, "LOGIN_LOCK_MAX_SECONDS": 600.0}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url, **LOCK)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 verification made, by any hasher."""
    made: list[str] = []
    real = PasswordHasher.verify

    def counting(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        made.append(str(password))
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return made


def one_login(client: FlaskClient, verifications: list[str], username: str, password: str) -> int:
    verifications.clear()
    login(client, username=username, password=password)
    return len(verifications)


def test_every_login_path_costs_exactly_one_argon2_verification(
    app: Flask, client: FlaskClient, verifications: list[str]
) -> None:
    make_account()
    make_account(username="anna.bianchi")
    pending = make_account(username="luca.verdi")
    for _ in range(3):  # three requests: before, three live hashes each tried on a wrong password
        issue_temporary_password(pending, TEMPORARY)
    make_account(username="locked.user")
    for _ in range(LOCK["LOGIN_LOCK_THRESHOLD"]):
        login(client, username="locked.user", password=WRONG)
    # At the ceiling (issue 11 item 5): the attempt also signs and seals an unlock link (or, for a name of
    # nobody, rehearses it), and still verifies one argon2 hash.
    ceiling = make_account(username="ceiling.user")
    with db.transaction() as session:
        session.execute(
            update(Account)
            .where(Account.id == ceiling)
            .values(failed_logins=100, locked_until=bruteforce.HARD_LOCK)
        )
        session.add(
            LoginThrottle(
                username_key=username_key("nessuno.bloccato"),
                failed_logins=100,
                locked_until=bruteforce.HARD_LOCK,
            )
        )

    assert one_login(client, verifications, "nessuno.qui", WRONG) == 1  # unknown username
    assert one_login(client, verifications, "locked.user", PASSWORD) == 1  # locked
    assert one_login(client, verifications, "ceiling.user", PASSWORD) == 1  # at the ceiling: link sent
    assert one_login(client, verifications, "ceiling.user", WRONG) == 1  # at the ceiling, link out already
    assert one_login(client, verifications, "nessuno.bloccato", WRONG) == 1  # unknown name at the ceiling
    with db.transaction() as session:  # the ceiling's path did its work: one link, for the account
        sent = session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.event_type == unlock.EVENT)
        )
    assert sent == 1
    assert one_login(client, verifications, "anna.bianchi", WRONG) == 1  # wrong, nothing pending
    assert one_login(client, verifications, "luca.verdi", WRONG) == 1  # wrong, temporary pending (was 4)
    assert one_login(client, verifications, "mario.rossi", PASSWORD) == 1  # correct
    assert one_login(app.test_client(), verifications, "luca.verdi", TEMPORARY) == 1  # temporary password


def test_a_new_temporary_password_replaces_the_live_one(client: FlaskClient) -> None:
    account_id = make_account()
    issue_temporary_password(account_id, "FirstTemporary23")
    issue_temporary_password(account_id, TEMPORARY)
    with db.transaction() as session:
        stored = session.scalars(select(TemporaryPassword.password_hash)).all()
        live = session.scalar(
            select(func.count())
            .select_from(TemporaryPassword)
            .where(TemporaryPassword.used_at.is_(None), TemporaryPassword.expires_at > datetime.now(UTC))
        )
    assert len(stored) == 2 and all(h.startswith(temporary.PREFIX) for h in stored)  # digests only
    assert TEMPORARY not in " ".join(stored)
    assert live == 1
    assert login(client, password="FirstTemporary23").status_code == 401  # replaced: refused
    assert login(client, password=TEMPORARY).status_code == 303  # the live one opens the forced change
