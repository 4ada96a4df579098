"""Back-channel logout at the service level (issue 5 item 4): the logout token's claims, the retry schedule,
the settings, and the outbox's claims with one worker or several."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from iam.accounts.models import Account
from iam.clients.models import OidcClient
from iam.config import load_settings
from iam.keys import service as keys
from iam.models import all_metadata
from iam.oidc.backchannel import (
    EVENT,
    DeliveryPolicy,
    claim_due,
    deliver_due,
    logout_claims,
    post_logout_token,
    schedule,
)
from iam.oidc.models import LogoutDelivery, SessionClient
from iam.signin import sessions
from iam.signin.models import SsoSession
from iam_recovery_support import ORIGIN, make_account
from polis.config import ConfigError
from polis.db import Database
from sqlalchemy import select

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ISSUER = "https://polis.example"


# --- without a database ----------------------------------------------------------------------------------


def test_a_logout_token_carries_the_back_channel_claims_and_no_nonce() -> None:
    account_id, sid = uuid.uuid4(), uuid.uuid4()

    claims = logout_claims(
        issuer=ISSUER, client_id="pagoinrete", account_id=account_id, sso_session_id=sid, now=NOW
    )

    assert claims["iss"] == ISSUER and claims["aud"] == "pagoinrete"
    assert claims["sub"] == str(account_id) and claims["sid"] == str(sid)
    assert claims["iat"] == int(NOW.timestamp()) and claims["exp"] == claims["iat"] + 120
    assert claims["events"] == {EVENT: {}} and EVENT == "http://schemas.openid.net/event/backchannel-logout"
    assert "nonce" not in claims
    again = logout_claims(
        issuer=ISSUER, client_id="pagoinrete", account_id=account_id, sso_session_id=sid, now=NOW
    )
    assert again["jti"] != claims["jti"]


def test_a_logout_token_without_a_session_names_the_account_only() -> None:
    claims = logout_claims(
        issuer=ISSUER, client_id="c", account_id=uuid.uuid4(), sso_session_id=None, now=NOW
    )

    assert "sid" not in claims and claims["sub"]


def test_retries_wait_longer_each_time_up_to_the_last_delay() -> None:
    policy = DeliveryPolicy(issuer=ISSUER, retry_delays=(10, 30, 60, 300))

    waits = [policy.delay_after(attempts).total_seconds() for attempts in range(1, 8)]

    assert waits == [10, 30, 60, 300, 300, 300, 300]


def test_the_lease_outlasts_a_batch_of_clients_that_all_time_out() -> None:
    policy = DeliveryPolicy(issuer=ISSUER, batch_size=32, concurrency=8, connect_timeout=3, read_timeout=5)

    assert policy.lease > timedelta(seconds=(32 / 8) * (3 + 5))


def test_only_an_absolute_http_uri_is_posted_to() -> None:
    with pytest.raises(ValueError, match="absolute http"):
        post_logout_token("file:///etc/passwd", "token", connect_timeout=1, read_timeout=1)


def test_the_settings_have_bounded_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IAM_BACKCHANNEL_LOGOUT_RETRY_DELAYS", raising=False)
    policy = DeliveryPolicy.from_settings(load_settings())

    assert (policy.connect_timeout, policy.read_timeout) == (3.0, 5.0)
    assert policy.retry_delays[0] == 10.0 and policy.max_attempts == 8


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IAM_BACKCHANNEL_LOGOUT_RETRY_DELAYS", "60,10"),
        ("IAM_BACKCHANNEL_LOGOUT_RETRY_DELAYS", "10,soon"),
        ("IAM_BACKCHANNEL_LOGOUT_RETRY_DELAYS", "0,10"),
        ("IAM_BACKCHANNEL_LOGOUT_MAX_ATTEMPTS", "0"),
    ],
)
def test_settings_that_would_retry_for_ever_or_never_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError, match=name):
        load_settings()


# --- with a database -------------------------------------------------------------------------------------


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    all_metadata().create_all(database.engine)
    keys.configure(keys.KeySettings.from_config(load_settings()))  # as the worker does at its start
    keys.forget_cached()  # the signing key belongs to this database
    yield database
    database.dispose()


def add_client(database: Database, client_id: str, backchannel_logout_uri: str | None) -> None:
    with database.transaction() as session:
        session.add(
            OidcClient(
                client_id=client_id,
                name=client_id,
                redirect_uris=[f"https://{client_id}.example/cb"],
                post_logout_redirect_uris=[],
                grant_types=["authorization_code"],
                scopes=["openid"],
                backchannel_logout_uri=backchannel_logout_uri,
                created_at=NOW,
                updated_at=NOW,
            )
        )


def session_with_clients(database: Database, account_id: uuid.UUID, *client_ids: str) -> uuid.UUID:
    policy = sessions.SsoPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=8), secure_cookie=False)
    with database.transaction() as session:
        account = session.get_one(Account, account_id)
        _token, row = sessions.start_session(
            session, account=account, origin=ORIGIN, sso_policy=policy, now=NOW
        )
        session.flush()
        for client_id in client_ids:
            session.add(SessionClient(sso_session_id=row.id, client_id=client_id, created_at=NOW))
        return row.id


def owed(database: Database, count: int) -> list[uuid.UUID]:
    """`count` deliveries due at NOW, to a client with a URI."""
    add_client(database, "partner", "https://partner.example/logout")
    account = make_account(database)
    sids = [session_with_clients(database, account.id, "partner") for _ in range(count)]
    with database.transaction() as session:
        schedule(session, account_id=account.id, sso_session_ids=sids, now=NOW)
        return list(session.scalars(select(LogoutDelivery.id)))


def test_schedule_owes_one_delivery_per_client_with_a_uri_of_each_ended_session(database: Database) -> None:
    add_client(database, "partner", "https://partner.example/logout")
    add_client(database, "quiet", None)
    add_client(database, "blank", "")
    account = make_account(database)
    first = session_with_clients(database, account.id, "partner", "quiet", "blank")
    second = session_with_clients(database, account.id, "quiet")

    with database.transaction() as session:
        written = schedule(session, account_id=account.id, sso_session_ids=[first, second], now=NOW)
        rows = list(session.scalars(select(LogoutDelivery)))

    assert written == 1
    [row] = rows
    assert (row.client_id, row.sso_session_id, row.account_id, row.attempts) == (
        "partner",
        first,
        account.id,
        0,
    )


def test_end_all_sessions_skips_sessions_already_ended_or_past_their_absolute_timeout(
    database: Database,
) -> None:
    add_client(database, "partner", "https://partner.example/logout")
    account = make_account(database)
    standing, ended, expired = (session_with_clients(database, account.id, "partner") for _ in range(3))
    with database.transaction() as session:
        session.get_one(SsoSession, ended).ended_at = NOW
        session.get_one(SsoSession, expired).expires_at = NOW + timedelta(minutes=1)

    with database.transaction() as session:
        sessions.end_all_sessions(session, account_id=account.id, now=NOW + timedelta(minutes=5))
        rows = list(session.scalars(select(LogoutDelivery.sso_session_id)))
        still_open = session.scalars(select(SsoSession.id).where(SsoSession.ended_at.is_(None))).all()

    assert rows == [standing]
    assert still_open == []


def test_two_claims_never_take_the_same_delivery(database: Database, database_kind: str) -> None:
    ids = owed(database, 3)
    lease = timedelta(minutes=1)

    if database_kind == "postgresql":  # two workers at the same moment: the second skips the locked rows
        with database.transaction() as first_worker:
            first = claim_due(first_worker, now=NOW, limit=2, lease=lease)
            with database.transaction() as second_worker:
                second = claim_due(second_worker, now=NOW, limit=10, lease=lease)
    else:  # SQLite: claims queue on the write lock; the second sees the first's lease
        with database.transaction() as first_worker:
            first = claim_due(first_worker, now=NOW, limit=2, lease=lease)
        with database.transaction() as second_worker:
            second = claim_due(second_worker, now=NOW, limit=10, lease=lease)

    assert len(first) == 2 and len(second) == 1
    assert {item.id for item in first} | {item.id for item in second} == set(ids)


def test_a_claim_that_was_never_finished_comes_back_after_its_lease(database: Database) -> None:
    [delivery_id] = owed(database, 1)
    lease = timedelta(minutes=1)
    with database.transaction() as session:  # a worker claims it and dies
        [claimed] = claim_due(session, now=NOW, limit=10, lease=lease)

    with database.transaction() as session:
        assert claim_due(session, now=NOW + timedelta(seconds=59), limit=10, lease=lease) == []
    with database.transaction() as session:
        [again] = claim_due(session, now=NOW + timedelta(seconds=61), limit=10, lease=lease)

    assert claimed.id == again.id == delivery_id and (claimed.attempts, again.attempts) == (1, 2)


def test_a_late_outcome_does_not_overwrite_the_claim_that_followed_it(database: Database) -> None:
    """A worker whose lease ran out while it waited for a client records nothing: the worker that claimed
    the row next owns it (here it delivered, and the late failure must not undo that)."""
    [delivery_id] = owed(database, 1)
    calls: list[str] = []

    def slow_then_fine(url: str, token: str, **_timeouts: Any) -> int:
        calls.append(url)
        if len(calls) == 1:  # the first worker is stuck past its lease; another one takes over
            later = NOW + timedelta(hours=1)
            assert deliver_due(db=database, policy=other, now=later).delivered == 1
            return 500
        return 200

    first = DeliveryPolicy(issuer=ISSUER, post=slow_then_fine)
    other = DeliveryPolicy(issuer=ISSUER, post=slow_then_fine)

    report = deliver_due(db=database, policy=first, now=NOW)

    assert report.attempted == 0 and len(calls) == 2  # the late failure was not recorded
    with database.transaction() as session:
        row = session.get_one(LogoutDelivery, delivery_id)
        assert row.delivered_at is not None and row.attempts == 2 and row.last_error is None
