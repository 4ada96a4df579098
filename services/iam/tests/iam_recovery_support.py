"""Helpers of the recovery, Area Riservata, MI and audit tests: accounts, outbox, sealed values, sessions."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from iam.accounts.models import Account, AccountKind, AccountState
from iam.audit.models import AuditEntry
from iam.audit.service import Origin
from iam.captcha import models as _captcha_models  # noqa: F401 - the captcha_solutions table
from iam.captcha.adapters import TEST_PASS_PREFIX
from iam.models import outbox
from iam.passwords.hashing import hash_secret
from iam.signin import sessions
from polis.db import Database
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, Opener
from sqlalchemy import select

PASSWORD = "lampone-torre-vento-1987"
CF_MARIO = "RSSMRA80A01H501U"
CF_GIULIA = "BNCGLI85M41F205B"
CF_ANNA = "VRDNNA90A41L219B"
CF_PAOLO = "NREPLA75C10A662Q"
CF_LUCIA = "DNGLCU70E45F839G"
ORIGIN = Origin(source_address="203.0.113.7", user_agent="pytest", request_id="req-test")
OPS_HEADERS = {"Authorization": "Bearer polis-dev-ops-token"}


def captcha() -> str:
    """A response the deterministic test captcha accepts (once)."""
    return TEST_PASS_PREFIX + uuid.uuid4().hex


def make_account(database: Database, **overrides: Any) -> Account:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "username": "mario.rossi",
        "kind": AccountKind.ORDINARY.value,
        "state": AccountState.ACTIVE.value,
        "roles": [],
        "codice_fiscale": CF_MARIO,
        "first_name": "Mario",
        "last_name": "Rossi",
        "personal_email": "mario.rossi@example.it",
        "personal_email_verified_at": now,
        "language": "it",
        "password_hash": hash_secret(PASSWORD),
        "credentials_version": 1,
        "created_at": now,
        "activated_at": now,
    }
    values.update(overrides)
    with database.transaction() as session:
        account = Account(**values)
        session.add(account)
        session.flush()
        session.expunge(account)
    return account


def load_account(database: Database, account_id: uuid.UUID) -> Account:
    with database.transaction() as session:
        account = session.get_one(Account, account_id)
        session.expunge(account)
    return account


def events(database: Database, event_type: str | None = None) -> list[dict[str, Any]]:
    with database.transaction() as session:
        rows = [
            json.loads(payload) for payload in session.scalars(select(outbox.c.payload).order_by(outbox.c.id))
        ]
    return [row for row in rows if event_type is None or row["type"] == event_type]


def audit_actions(database: Database) -> list[str]:
    with database.transaction() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.occurred_at)))


def audit_entries(database: Database, action: str) -> list[AuditEntry]:
    with database.transaction() as session:
        rows = list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))
        for row in rows:
            session.expunge(row)
    return rows


def unseal(value: str) -> str:
    return Opener({DEV_KEY_ID: DEV_PRIVATE_KEY}).open(value)


def app_config(database_url: str, broker_port: int) -> dict[str, Any]:
    return {
        "DATABASE_URL": database_url,
        "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{broker_port}/%2F",
        "CAPTCHA": "test",
    }


def sign_in(app: Flask, client: FlaskClient, account: Account) -> str:
    """Give the test client a live IAM SSO session for the account (as the login page would)."""
    from iam.extensions import db

    with app.app_context(), db.transaction() as session:
        fresh = session.get_one(Account, account.id)
        token, _row = sessions.start_session(
            session, account=fresh, origin=ORIGIN, sso_policy=app.extensions[sessions.POLICY]
        )
    client.set_cookie(sessions.COOKIE, token)
    return token


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form on the page at `path` (the page sets the session cookie holding it)."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match, "no csrf_token on the page"
    return match.group(1)


def page_captcha(html: str) -> str:
    match = re.search(r'name="captcha" value="([^"]+)"', html)
    assert match, "no test captcha on the page"
    return match.group(1)
