"""The execution's set statements (D-REV-3) against the per-account path they replace, on a real database:
an UPDATE per account, `sessions.end_all_sessions`, `outbox.record` of its event and `audit.record` of its
entry. Same accounts revoked, same sessions, refresh tokens and access tokens ended, same back-channel
logouts owed, same outbox events and audit entries. And a login racing a batch keeps its account."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from iam.accounts.models import Account, AccountState
from iam.audit import service as audit
from iam.audit.models import AuditEntry
from iam.audit.service import Origin
from iam.clients import service as clients
from iam.extensions import db
from iam.models import outbox
from iam.oidc.models import AccessToken, LogoutDelivery, RefreshToken, SessionClient
from iam.revocation import clock, execute, service
from iam.revocation.models import RevocationRound
from iam.signin.models import SsoSession
from iam.signin.sessions import end_all_sessions
from oidc_helpers import make_app
from polis.events import Event
from polis.events import outbox as events_outbox
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session
from test_revocation_rounds import LONG_AGO, OPS, ROUNDS, add_account, create, work_until_idle

OLD = datetime(2014, 1, 1, tzinfo=UTC)
WORKER_ORIGIN = Origin(source_address="worker", user_agent="iam.worker")


@pytest.fixture
def clock_file(tmp_path: Path) -> Path:
    return tmp_path / "clock"


@pytest.fixture
def client(database_url: str, clock_file: Path) -> Iterator[FlaskClient]:
    for app in make_app(database_url, REVOCATION_CLOCK_FILE=str(clock_file)):
        yield app.test_client()


def _client(client_id: str, logout_uri: str | None) -> None:
    clients.ensure(
        db,
        client_id=client_id,
        name=client_id,
        secret=secrets.token_urlsafe(32),
        redirect_uris=[f"https://{client_id}.example.org/cb"],
        backchannel_logout_uri=logout_uri,
    )


def _sso_session(
    account_id: uuid.UUID, *, expires_at: datetime, ended_at: datetime | None = None
) -> uuid.UUID:
    row = SsoSession(
        id=uuid.uuid4(),
        token_hash=secrets.token_hex(32),
        account_id=account_id,
        credentials_version=1,
        created_at=LONG_AGO,
        last_seen_at=LONG_AGO,
        expires_at=expires_at,
        ended_at=ended_at,
    )
    with db.transaction() as session:
        session.add(row)
        for client_id in ("partner-a", "partner-b"):
            session.add(SessionClient(sso_session_id=row.id, client_id=client_id, created_at=LONG_AGO))
    return row.id


def _tokens(account_id: uuid.UUID, sso_session_id: uuid.UUID | None, *, expires_at: datetime) -> None:
    family = uuid.uuid4()
    with db.transaction() as session:
        session.add(
            RefreshToken(
                token_hash=secrets.token_hex(32),
                family_id=family,
                client_id="partner-a",
                account_id=account_id,
                sso_session_id=sso_session_id,
                credentials_version=1,
                scope="openid",
                auth_time=0,
                issued_at=LONG_AGO,
                expires_at=expires_at,
                family_expires_at=expires_at,
            )
        )
        session.add(
            AccessToken(
                jti=secrets.token_hex(16),
                client_id="partner-a",
                account_id=account_id,
                credentials_version=1,
                refresh_family_id=family,
                sso_session_id=sso_session_id,
                scope="openid",
                issued_at=LONG_AGO,
                expires_at=expires_at,
            )
        )


@pytest.fixture
def people() -> dict[str, uuid.UUID]:
    """Affected accounts with and without sessions and tokens (standing, idle-expired, already ended),
    clients with and without a back-channel URI, and an account used since the cut-off that keeps its."""
    _client("partner-a", "https://partner-a.example.org/logout")
    _client("partner-b", None)
    future, past = datetime.now(UTC) + timedelta(days=400), datetime(2014, 2, 1, tzinfo=UTC)
    people = {
        "plain": add_account(last_access_at=OLD),
        "never_logged_in": add_account(activated_at=OLD),
        "with_everything": add_account(last_access_at=OLD),
        "with_expired": add_account(last_access_at=OLD),
        "used_since": add_account(last_access_at=datetime(2016, 1, 1, tzinfo=UTC)),
    }
    standing = people["standing_session"] = _sso_session(people["with_everything"], expires_at=future)
    _sso_session(people["with_everything"], expires_at=future, ended_at=past)
    _tokens(people["with_everything"], standing, expires_at=future)
    _tokens(people["with_everything"], None, expires_at=past)  # an expired access token stays as it is
    _sso_session(people["with_expired"], expires_at=past)  # ended, but no logout is owed for it
    _tokens(people["with_expired"], None, expires_at=future)
    _tokens(people["used_since"], _sso_session(people["used_since"], expires_at=future), expires_at=future)
    return people


def _at(moment: datetime | None, now: datetime) -> Any:
    """A timestamp as the comparison sees it: the batch's instant is "now" in both runs."""
    if moment is None:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return "now" if moment == now else moment


def effects(session: Session, now: datetime) -> dict[str, Any]:
    """Every row revocation touches, with the batch's instant written "now"."""
    revoked_events = []
    for event_id, payload in session.execute(
        select(outbox.c.event_id, outbox.c.payload).where(outbox.c.event_type == service.EVENT_REVOKED)
    ):
        envelope = json.loads(payload)
        assert envelope["id"] == event_id  # the envelope's id is the row's idempotency key
        assert Event.from_json(payload).type == service.EVENT_REVOKED
        if envelope["data"]["revoked_at"] == now.isoformat():
            envelope["data"]["revoked_at"] = "now"
        revoked_events.append(
            json.dumps({k: v for k, v in envelope.items() if k not in ("id", "occurred_at")}, sort_keys=True)
        )
    return {
        "accounts": {
            a.id: (a.state, _at(a.revoked_at, now), a.credentials_version)
            for a in session.scalars(select(Account))
        },
        "sessions": {s.id: _at(s.ended_at, now) for s in session.scalars(select(SsoSession))},
        "refresh": {t.token_hash: _at(t.revoked_at, now) for t in session.scalars(select(RefreshToken))},
        "access": {t.jti: _at(t.revoked_at, now) for t in session.scalars(select(AccessToken))},
        "logouts": sorted(
            (
                *(d.client_id, str(d.sso_session_id), str(d.account_id), _at(d.created_at, now)),
                *(d.attempts, _at(d.next_attempt_at, now), d.delivered_at),
            )
            for d in session.scalars(select(LogoutDelivery))
        ),
        "events": sorted(revoked_events),
        "audit": sorted(
            (
                *(str(e.account_id), e.actor, e.source_address, e.user_agent, e.request_id),
                json.dumps(e.details, sort_keys=True),
            )
            for e in session.scalars(select(AuditEntry).where(AuditEntry.action == service.REVOKED_ACTION))
        ),
    }


class _RolledBack(Exception):
    pass


def per_account_path(round_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """The reference: each affected account revoked on its own with the one-account functions, in a
    transaction rolled back after its effects are read."""
    seen: dict[str, Any] = {}
    try:
        with db.transaction() as session:
            round_ = session.get(RevocationRound, round_id)
            assert round_ is not None
            cutoff_at = service.as_utc(round_.cutoff_at)
            for account_id in session.scalars(
                select(Account.id).where(service.affected(cutoff_at)).order_by(Account.id)
            ):
                session.execute(
                    update(Account)
                    .where(Account.id == account_id)
                    .values(
                        state=AccountState.REVOKED.value,
                        revoked_at=now,
                        credentials_version=Account.credentials_version + 1,
                    )
                )
                end_all_sessions(session, account_id=account_id, now=now)
                data = execute.revoked_event_data(round_, str(account_id), now)
                events_outbox.record(
                    session, Event.new(service.EVENT_REVOKED, data, producer=service.PRODUCER), outbox
                )
                audit.record(
                    session,
                    action=service.REVOKED_ACTION,
                    origin=WORKER_ORIGIN,
                    account_id=account_id,
                    actor=service.WORKER_ACTOR,
                    details=execute.audit_details(round_),
                )
            session.flush()
            seen.update(effects(session, now))
            raise _RolledBack()
    except _RolledBack:
        pass
    return seen


def _announced_and_due(client: FlaskClient, clock_file: Path) -> uuid.UUID:
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    work_until_idle(batch_size=10)
    clock.set_offset(clock_file, timedelta(days=41).total_seconds())
    return uuid.UUID(round_id)


def test_d_rev_3_the_set_statements_have_exactly_the_effects_of_the_per_account_path(
    client: FlaskClient, people: dict[str, uuid.UUID], clock_file: Path
) -> None:
    round_id = _announced_and_due(client, clock_file)
    reference = per_account_path(round_id, clock.now())

    steps = work_until_idle(batch_size=100)  # one batch: one instant for every revocation

    assert [s.kind for s in steps] == ["started", "revoked", "done"]
    with db.transaction() as session:
        plain = session.get(Account, people["plain"])
        assert plain is not None and plain.revoked_at is not None
        now = service.as_utc(plain.revoked_at)
        got = effects(session, now)
    assert got == reference
    # The comparison is not empty: four revoked, one logout owed (partner-a, the standing session only).
    assert sum(state == "revoked" for state, _, _ in got["accounts"].values()) == 4
    assert got["logouts"] == [
        ("partner-a", str(people["standing_session"]), str(people["with_everything"]), "now", 0, "now", None)
    ]
    assert len(got["events"]) == len(got["audit"]) == 4
    assert got["accounts"][people["used_since"]][0] == "active"


def _waiting_on_a_lock() -> bool:
    with db.transaction() as probe:
        waiting = probe.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return bool(waiting)


def test_d_rev_3_a_login_racing_a_revocation_batch_keeps_its_account(
    client: FlaskClient, people: dict[str, uuid.UUID], clock_file: Path, database_kind: str
) -> None:
    if database_kind != "postgresql":
        pytest.skip("SQLite has one writer at a time: a batch cannot overlap a login")
    round_id = _announced_and_due(client, clock_file)
    assert service.work_once(db=db, batch_size=100).kind == "started"
    racer = people["with_everything"]
    outcome: list[service.Step] = []
    with db.transaction() as login:  # the login holds the account's row and records the access
        login.execute(update(Account).where(Account.id == racer).values(last_access_at=datetime.now(UTC)))
        worker = threading.Thread(target=lambda: outcome.append(service.work_once(db=db, batch_size=100)))
        worker.start()
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock():  # until the batch's UPDATE waits on that row
            assert time.monotonic() < deadline, "the batch never reached the login's row"
    worker.join(30)

    assert outcome and outcome[0].kind == "revoked" and outcome[0].count == 3
    with db.transaction() as session:
        kept = session.get(Account, racer)
        assert kept is not None and kept.state == "active" and kept.credentials_version == 1
        still = select(func.count()).where(SsoSession.account_id == racer, SsoSession.ended_at.is_(None))
        assert session.scalar(still) == 1  # its standing session too
        revoked = session.scalars(select(AuditEntry.account_id).where(AuditEntry.action == "account.revoked"))
        assert racer not in set(revoked)
    body = client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()
    assert work_until_idle()[-1].kind == "done"
    assert body["counts"]["revoked"] == 3


def test_d_rev_3_a_batchs_event_and_audit_ids_are_time_ordered_uuids(
    client: FlaskClient, people: dict[str, uuid.UUID], clock_file: Path, database_kind: str
) -> None:
    """On PostgreSQL the batch's statement makes the ids: UUIDv7s (RFC 9562) whose first 48 bits are the
    Unix milliseconds they were made at, so the ids indexes are written at their right edge."""
    if database_kind != "postgresql":
        pytest.skip("the ids come from PostgreSQL's statement; SQLite's path makes uuid4s in Python")
    _announced_and_due(client, clock_file)
    before = int(time.time() * 1000)
    assert [s.kind for s in work_until_idle(batch_size=100)] == ["started", "revoked", "done"]
    after = int(time.time() * 1000)
    with db.transaction() as session:
        event_ids = [
            uuid.UUID(event_id)
            for event_id in session.scalars(
                select(outbox.c.event_id).where(outbox.c.event_type == service.EVENT_REVOKED)
            )
        ]
        audit_ids = list(
            session.scalars(select(AuditEntry.id).where(AuditEntry.action == service.REVOKED_ACTION))
        )
    assert len(event_ids) == len(audit_ids) == 4
    ids = event_ids + audit_ids
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert all(before <= i.int >> 80 <= after for i in ids)
    assert len(set(ids)) == len(ids)
