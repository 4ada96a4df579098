"""Revocation rounds (D-REV-1 ... D-REV-5) through the ops API and the worker's batches, on a real database:
the round object and its bad input, the affected set, notices once each, keep at login, execution."""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.accounts import service as accounts
from iam.accounts.models import Account, AccountKind, AccountState
from iam.audit.models import AuditEntry
from iam.clients import service as clients
from iam.extensions import db
from iam.models import outbox
from iam.passwords.hashing import hash_secret, hasher
from iam.revocation import announce, clock, execute, service
from iam.revocation.models import RevocationRound
from iam.signin.models import SsoSession
from oidc_helpers import CALLBACK, ISSUER, PASSWORD, PORTAL, PORTAL_SECRET, login, make_app
from sqlalchemy import func, select
from test_oidc_grants import login_with_scope

OPS = {"Authorization": "Bearer polis-dev-ops-token"}
ROUNDS = "/api/iam/v1/ops/revocation-rounds"
FAST = hasher(8, 1)
LONG_AGO = datetime(2014, 5, 1, tzinfo=UTC)
CUTOFF = "2015-03-01"


@pytest.fixture
def clock_file(tmp_path: Path) -> Path:
    return tmp_path / "clock"


@pytest.fixture
def app(database_url: str, clock_file: Path) -> Iterator[Flask]:
    yield from make_app(database_url, REVOCATION_CLOCK_FILE=str(clock_file))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def add_account(
    *,
    username: str | None = None,
    kind: str = AccountKind.ORDINARY.value,
    created_at: datetime = LONG_AGO,
    activated_at: datetime | None = LONG_AGO,
    last_access_at: datetime | None = None,
    state: str = AccountState.ACTIVE.value,
    codice_fiscale: str | None = None,
) -> uuid.UUID:
    account = Account(
        id=uuid.uuid4(),
        username=username or f"utente.{secrets.token_hex(4)}",
        kind=kind,
        state=state,
        roles=[],
        codice_fiscale=codice_fiscale or secrets.token_hex(8).upper(),
        first_name="Anna",
        last_name="Verdi",
        personal_email=f"{secrets.token_hex(4)}@example.org",
        language="it",
        password_hash=hash_secret(PASSWORD, ph=FAST),
        credentials_version=1,
        failed_logins=0,
        created_at=created_at,
        activated_at=activated_at,
        last_access_at=last_access_at,
    )
    with db.transaction() as session:
        session.add(account)
    return account.id


def deadline_in(days: float) -> str:
    """A deadline `days` from now, as Italian wall-clock time (what ops type)."""
    local = (datetime.now(UTC) + timedelta(days=days)).astimezone(service.ROME)
    return local.replace(tzinfo=None, microsecond=0).isoformat()


def create(client: FlaskClient, **body: Any) -> Any:
    return client.post(ROUNDS, json={"cutoff": CUTOFF, "deadline": deadline_in(40), **body}, headers=OPS)


def work_until_idle(batch_size: int = 2) -> list[service.Step]:
    steps: list[service.Step] = []
    for _ in range(200):
        step = service.work_once(db=db, batch_size=batch_size)
        if step.kind == "idle":
            return steps
        steps.append(step)
        if step.kind == "done":
            return steps
    raise AssertionError("the worker never went idle")


def events(event_type: str) -> list[dict[str, Any]]:
    with db.transaction() as session:
        payloads = session.scalars(select(outbox.c.payload).where(outbox.c.event_type == event_type))
        return [json.loads(payload) for payload in payloads]


def state_of(account_id: uuid.UUID) -> str:
    with db.transaction() as session:
        return str(session.get(Account, account_id).state)  # type: ignore[union-attr]


def rounds_count() -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(RevocationRound)) or 0)


@pytest.fixture
def population() -> dict[str, uuid.UUID]:
    """D-REV-5: who is affected by a cut-off of 1 March 2015."""
    return {
        "unused": add_account(last_access_at=datetime(2014, 6, 1, tzinfo=UTC)),
        "never_logged_in": add_account(activated_at=datetime(2014, 7, 1, tzinfo=UTC)),
        "unused_too": add_account(last_access_at=datetime(2015, 2, 28, 22, 59, tzinfo=UTC)),
        # Midnight of 1 March in Rome is 23:00 UTC of 28 February: that access counts as on the cut-off day.
        "used_on_the_cutoff_day": add_account(last_access_at=datetime(2015, 2, 28, 23, 0, tzinfo=UTC)),
        "used_since": add_account(last_access_at=datetime(2016, 1, 1, tzinfo=UTC)),
        "mi": add_account(kind=AccountKind.MI.value, last_access_at=datetime(2014, 6, 1, tzinfo=UTC)),
        "created_after": add_account(
            created_at=datetime(2015, 6, 1, tzinfo=UTC), activated_at=datetime(2015, 6, 1, tzinfo=UTC)
        ),
        "awaiting": add_account(state=AccountState.AWAITING_CONFIRMATION.value, activated_at=None),
    }


AFFECTED = {"unused", "never_logged_in", "unused_too"}


# --- the round object and bad input (D-REV-4) -------------------------------------------------------------


def test_d_rev_4_a_round_is_created_as_a_draft_with_the_default_reminders(client: FlaskClient) -> None:
    response = client.post(ROUNDS, json={"cutoff": CUTOFF, "deadline": "2099-07-12T24:00"}, headers=OPS)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["state"] == "draft"
    assert body["reminder_days"] == [30, 7, 1]
    # 12/07 at 24:00 Italian time (summer, UTC+2) is 22:00 UTC of the 12th.
    assert body["deadline"] == "2099-07-12T22:00:00+00:00"
    assert body["deadline_local"] == "2099-07-13T00:00:00"
    assert body["created_by"] == "ops:token"
    assert body["counts"] == {
        "affected_at_preview": None,
        "affected_at_announce": None,
        "announced": 0,
        "kept": 0,
        "revoked": 0,
    }
    listed = client.get(ROUNDS, headers=OPS).get_json()["rounds"]
    assert [entry["id"] for entry in listed] == [body["id"]]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"deadline": "2020-01-01T00:00"}, "deadline", "deadline_in_past"),
        ({"cutoff": "2099-08-01", "deadline": "2099-07-01T00:00"}, "cutoff", "cutoff_after_deadline"),
        ({"cutoff": "2098-01-01", "deadline": "2099-07-01T00:00"}, "cutoff", "cutoff_in_future"),
        ({"deadline": "2099-03-29T02:30"}, "deadline", "nonexistent_local_time"),  # clocks jump 2:00 -> 3:00
        ({"deadline": "2099-10-25T02:30"}, "deadline", "ambiguous_local_time"),  # 2:30 happens twice
        ({"deadline": "2099-07-01T00:00+02:00"}, "deadline", "local_time_expected"),
        ({"deadline": "domani alle dieci"}, "deadline", "invalid_datetime"),
        ({"reminder_days": [0]}, "reminder_days", "out_of_range"),
    ],
)
def test_d_rev_4_bad_input_is_refused_and_changes_nothing(
    client: FlaskClient, body: dict[str, Any], field: str, code: str
) -> None:
    response = create(client, **body)

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed" and error["fields"] == {field: [code]}
    assert rounds_count() == 0


def test_d_rev_4_unknown_fields_are_refused(client: FlaskClient) -> None:
    response = create(client, state="done")

    assert response.status_code == 400 and response.get_json()["error"]["fields"]["state"]
    assert rounds_count() == 0


def ordinary_user_token(client: FlaskClient) -> str:
    """An access token of an ordinary user (no ops role), through the portal client's login."""
    clients.ensure(
        db,
        client_id=PORTAL,
        name="Istanze OnLine",
        secret=PORTAL_SECRET,
        redirect_uris=[CALLBACK],
        post_logout_redirect_uris=[f"{ISSUER}/"],
        scopes=["openid", "iam"],
        grant_types=["authorization_code", "refresh_token"],
        audiences=["urn:polis:iam"],
    )
    add_account(username="mario.rossi", created_at=datetime.now(UTC), activated_at=datetime.now(UTC))
    return str(login_with_scope(client, "openid iam")["access_token"])


def test_d_rev_4_ops_calls_without_the_ops_role_are_refused(client: FlaskClient) -> None:
    user_token = ordinary_user_token(client)

    anonymous = client.post(ROUNDS, json={"cutoff": CUTOFF, "deadline": deadline_in(40)})
    as_user = client.post(
        ROUNDS,
        json={"cutoff": CUTOFF, "deadline": deadline_in(40)},
        headers={"Authorization": f"Bearer {user_token}"},
    )
    listing = client.get(ROUNDS, headers={"Authorization": "Bearer wrong"})

    assert anonymous.status_code == 401 and anonymous.get_json()["error"]["code"] == "ops_token_required"
    assert as_user.status_code == 403 and as_user.get_json()["error"]["code"] == "ops_role_required"
    assert listing.status_code == 401
    assert rounds_count() == 0


def test_d_rev_4_every_ops_call_on_a_round_without_the_ops_role_is_refused_and_changes_nothing(
    client: FlaskClient, population: dict[str, uuid.UUID]
) -> None:
    user = {"Authorization": f"Bearer {ordinary_user_token(client)}"}
    draft = create(client).get_json()["id"]
    announced = create(client).get_json()["id"]
    assert client.post(f"{ROUNDS}/{announced}/announce", headers=OPS).status_code == 200
    before = {r: client.get(f"{ROUNDS}/{r}", headers=OPS).get_json() for r in (draft, announced)}

    calls = [
        ("post", f"{ROUNDS}/{draft}/preview"),
        ("post", f"{ROUNDS}/{draft}/announce"),
        ("post", f"{ROUNDS}/{draft}/cancel"),
        ("post", f"{ROUNDS}/{announced}/cancel"),
        ("get", f"{ROUNDS}/{announced}"),
        ("get", f"{ROUNDS}/{announced}/audit"),
    ]
    for method, path in calls:
        anonymous = getattr(client, method)(path)
        as_user = getattr(client, method)(path, headers=user)
        assert anonymous.status_code == 401, path
        assert anonymous.get_json()["error"]["code"] == "ops_token_required", path
        assert as_user.status_code == 403, path
        assert as_user.get_json()["error"]["code"] == "ops_role_required", path
        assert as_user.get_json()["error"]["message"], path  # a readable reason, no stack trace

    for round_id, body in before.items():
        assert client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json() == body
    assert events("iam.revocation_announced") == []  # the worker has not run: nothing written either
    assert rounds_count() == 2


def test_d_rev_4_announcing_a_draft_whose_deadline_has_passed_is_refused(
    client: FlaskClient, clock_file: Path, population: dict[str, uuid.UUID]
) -> None:
    round_id = create(client, deadline=deadline_in(2)).get_json()["id"]
    clock.set_offset(clock_file, timedelta(days=3).total_seconds())

    response = client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)

    assert response.status_code == 409 and response.get_json()["error"]["code"] == "deadline_passed"
    body = client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()
    assert body["state"] == "draft" and body["notices"] == []
    assert body["counts"]["affected_at_announce"] is None
    assert work_until_idle() == [] and events("iam.revocation_announced") == []


def test_d_rev_4_a_cancel_of_a_round_already_executed_is_refused(
    client: FlaskClient, clock_file: Path, population: dict[str, uuid.UUID]
) -> None:
    round_id = create(client, deadline=deadline_in(2)).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    work_until_idle()
    clock.set_offset(clock_file, timedelta(days=3).total_seconds())
    assert work_until_idle()[-1].kind == "done"
    clock.set_offset(clock_file, 0)  # even with the clock back before the deadline

    response = client.post(f"{ROUNDS}/{round_id}/cancel", headers=OPS)

    assert response.status_code == 409 and response.get_json()["error"]["code"] == "round_state"
    body = client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()
    assert body["state"] == "done" and body["counts"]["revoked"] == len(AFFECTED)


def test_d_rev_4_a_second_round_overlapping_an_announced_one_is_refused(client: FlaskClient) -> None:
    first = create(client).get_json()["id"]
    draft = create(client).get_json()["id"]  # drafts may coexist
    assert client.post(f"{ROUNDS}/{first}/announce", headers=OPS).status_code == 200

    second = create(client)
    announce_draft = client.post(f"{ROUNDS}/{draft}/announce", headers=OPS)

    assert second.status_code == 409 and second.get_json()["error"]["code"] == "round_overlaps"
    assert (
        announce_draft.status_code == 409 and announce_draft.get_json()["error"]["code"] == "round_overlaps"
    )
    assert rounds_count() == 2
    assert client.get(f"{ROUNDS}/{draft}", headers=OPS).get_json()["state"] == "draft"


def test_d_rev_4_a_cancel_after_the_deadline_is_refused(client: FlaskClient, clock_file: Path) -> None:
    round_id = create(client, deadline=deadline_in(2)).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    clock.set_offset(clock_file, timedelta(days=3).total_seconds())

    response = client.post(f"{ROUNDS}/{round_id}/cancel", headers=OPS)

    assert response.status_code == 409 and response.get_json()["error"]["code"] == "deadline_passed"
    assert client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()["state"] == "announced"


def test_d_rev_4_an_unknown_round_is_a_404_in_the_error_shape(client: FlaskClient) -> None:
    response = client.post(f"{ROUNDS}/{uuid.uuid4()}/announce", headers=OPS)

    assert response.status_code == 404 and response.get_json()["error"]["code"] == "round_not_found"


# --- who is affected (D-REV-5) and the preview -----------------------------------------------------------


def test_d_rev_5_the_preview_counts_only_ordinary_accounts_unused_since_the_cutoff(
    client: FlaskClient, population: dict[str, uuid.UUID]
) -> None:
    round_id = create(client).get_json()["id"]

    response = client.post(f"{ROUNDS}/{round_id}/preview", json={"sample_size": 10}, headers=OPS)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["affected"] == len(AFFECTED)
    assert {entry["account_id"] for entry in body["sample"]} == {str(population[k]) for k in AFFECTED}
    assert body["round"]["counts"]["affected_at_preview"] == len(AFFECTED)
    assert body["round"]["previewed_at"] is not None
    assert events("iam.revocation_announced") == []  # a preview tells nobody


# --- announce, reminders, keep, execute (D-REV-2, D-REV-3) ------------------------------------------------


def test_d_rev_2_the_announcement_goes_once_to_every_affected_account_in_batches(
    client: FlaskClient, population: dict[str, uuid.UUID]
) -> None:
    round_id = create(client).get_json()["id"]
    announced = client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS).get_json()
    assert announced["state"] == "announced" and announced["counts"]["affected_at_announce"] == 3

    steps = work_until_idle(batch_size=2)
    again = work_until_idle(batch_size=2)  # nothing due any more: no second notice

    assert [(s.kind, s.count) for s in steps] == [("notice", 2), ("notice", 1)]
    assert again == []
    notices = events("iam.revocation_announced")
    assert sorted(n["data"]["account_id"] for n in notices) == sorted(str(population[k]) for k in AFFECTED)
    assert {n["data"]["round_id"] for n in notices} == {round_id}
    assert notices[0]["data"]["cutoff"] == "2015-02-28T23:00:00+00:00"  # midnight in Rome
    body = client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()
    assert body["counts"]["announced"] == 3 and body["progress"] == 100
    assert [(n["name"], n["state"], n["sent"]) for n in body["notices"]] == [
        ("announcement", "done", 3),
        ("reminder-30", "pending", 0),
        ("reminder-7", "pending", 0),
        ("reminder-1", "pending", 0),
    ]


def test_d_rev_2_a_login_before_the_deadline_keeps_the_account_and_reminders_skip_it(
    client: FlaskClient, population: dict[str, uuid.UUID], clock_file: Path
) -> None:
    kept = add_account(username="anna.verdi", last_access_at=datetime(2014, 1, 1, tzinfo=UTC))
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    work_until_idle()

    assert login(client, username="anna.verdi").status_code == 303
    assert login(client, username="anna.verdi").status_code == 303  # a second login is not a second keep
    clock.set_offset(clock_file, timedelta(days=11).total_seconds())  # the 30-day reminder is due
    steps = work_until_idle()

    reminded = events("iam.revocation_announced")
    assert [s.notice for s in steps] == ["reminder-30", "reminder-30"]
    assert len(reminded) == 2 * len(AFFECTED) + 1  # the announcement to four, the reminder to three
    assert [n["data"]["account_id"] for n in reminded].count(str(kept)) == 1
    counts = client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()["counts"]
    assert counts["announced"] == 4 and counts["kept"] == 1


def test_d_rev_2_when_reminders_fall_due_together_only_the_latest_is_sent(
    client: FlaskClient, population: dict[str, uuid.UUID], clock_file: Path
) -> None:
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    work_until_idle(batch_size=10)
    clock.set_offset(clock_file, timedelta(days=34).total_seconds())  # 30 and 7 days before: both due

    steps = work_until_idle(batch_size=10)

    assert [(s.notice, s.count) for s in steps] == [("reminder-7", 3)]
    states = {
        n["name"]: n["state"] for n in client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()["notices"]
    }
    assert states == {
        "announcement": "done",
        "reminder-30": "skipped",
        "reminder-7": "done",
        "reminder-1": "pending",
    }


def test_d_rev_3_at_the_deadline_the_accounts_still_unused_are_revoked(
    client: FlaskClient, population: dict[str, uuid.UUID], clock_file: Path
) -> None:
    kept = add_account(username="anna.verdi", last_access_at=datetime(2014, 1, 1, tzinfo=UTC))
    with_session = add_account(username="luca.bianchi", last_access_at=datetime(2014, 1, 1, tzinfo=UTC))
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    work_until_idle()
    login(client, username="anna.verdi")
    with db.transaction() as session:  # a session left open by luca (seen before the cut-off)
        session.add(
            SsoSession(
                id=uuid.uuid4(),
                token_hash=secrets.token_hex(32),
                account_id=with_session,
                credentials_version=1,
                created_at=LONG_AGO,
                last_seen_at=LONG_AGO,
                expires_at=datetime.now(UTC) + timedelta(days=365),
            )
        )
    clock.set_offset(clock_file, timedelta(days=41).total_seconds())

    steps = work_until_idle(batch_size=2)

    assert [s.kind for s in steps] == ["started", "revoked", "revoked", "done"]
    revoked_ids = {population[k] for k in AFFECTED} | {with_session}
    assert {k: state_of(v) for k, v in population.items() if k in AFFECTED} == dict.fromkeys(
        AFFECTED, "revoked"
    )
    assert state_of(kept) == "active" and state_of(with_session) == "revoked"
    assert state_of(population["mi"]) == "active" and state_of(population["used_since"]) == "active"
    published = events("iam.account_revoked")
    assert sorted(e["data"]["account_id"] for e in published) == sorted(str(i) for i in revoked_ids)
    assert {(e["data"]["reason"], e["data"]["round_id"]) for e in published} == {("inactivity", round_id)}
    with db.transaction() as session:
        luca = session.get(Account, with_session)
        assert luca.revoked_at is not None and luca.credentials_version == 2  # type: ignore[union-attr]
        assert session.scalar(select(SsoSession.ended_at).where(SsoSession.account_id == with_session))
    body = client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()
    assert body["state"] == "done" and body["progress"] == 100
    assert body["counts"] == {
        "affected_at_preview": None,
        "affected_at_announce": 5,
        "announced": 5,
        "kept": 1,
        "revoked": 4,
    }
    trail = client.get(f"{ROUNDS}/{round_id}/audit?limit=50", headers=OPS).get_json()["entries"]
    actions = [entry["action"] for entry in trail]
    assert actions.count("account.revoked") == 4
    assert {
        "revocation.round_created",
        "revocation.round_announced",
        "revocation.execution_started",
        "revocation.round_done",
    } <= set(actions)
    assert {e["account_id"] for e in trail if e["action"] == "account.revoked"} == {
        str(i) for i in revoked_ids
    }


def test_d_rev_3_a_revoked_user_is_refused_at_login_with_what_to_do_and_may_register_again(
    client: FlaskClient, clock_file: Path
) -> None:
    account_id = add_account(
        username="anna.verdi",
        codice_fiscale="VRDNNA80A41H501X",
        last_access_at=datetime(2014, 1, 1, tzinfo=UTC),
    )
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    work_until_idle()
    clock.set_offset(clock_file, timedelta(days=41).total_seconds())
    work_until_idle()

    refused = login(client, username="anna.verdi")

    assert refused.status_code == 403
    page = refused.get_data(as_text=True)
    assert "revocato" in page and 'href="/iam/registrazione"' in page
    # D-ACC-3: the codice fiscale is free for a new registration; the revoked row stays for the audit.
    with db.transaction() as session:
        again = accounts.create_account(
            session,
            person=accounts.PersonalData("VRDNNA80A41H501X", "Anna", "Verdi"),
            personal_email="a@x.it",
        )
        assert again.id != account_id
        assert session.get(Account, account_id).state == "revoked"  # type: ignore[union-attr]


def test_d_rev_4_a_cancelled_round_revokes_nobody(
    client: FlaskClient, population: dict[str, uuid.UUID], clock_file: Path
) -> None:
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    work_until_idle(batch_size=1)

    cancelled = client.post(f"{ROUNDS}/{round_id}/cancel", headers=OPS).get_json()
    clock.set_offset(clock_file, timedelta(days=41).total_seconds())
    steps = work_until_idle()

    assert cancelled["state"] == "cancelled" and cancelled["cancelled_by"] == "ops:token"
    assert steps == []
    assert {state_of(i) for i in population.values()} <= {"active", "awaiting_confirmation"}
    assert events("iam.account_revoked") == []
    assert client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS).status_code == 409


def test_d_rev_4_a_crash_mid_batch_resumes_at_the_checkpoint_without_a_second_notice(
    client: FlaskClient, population: dict[str, uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    assert service.work_once(db=db, batch_size=2).count == 2
    original = announce.advance

    def crash(*args: Any, **kwargs: Any) -> None:
        # After the batch's outbox rows and the checkpoint's move, before the commit: a kill -9 there.
        original(*args, **kwargs)
        raise RuntimeError("killed before the commit")

    monkeypatch.setattr(announce, "advance", crash)
    with pytest.raises(RuntimeError):
        service.work_once(db=db, batch_size=2)
    monkeypatch.undo()
    work_until_idle(batch_size=2)

    notices = events("iam.revocation_announced")
    assert sorted(n["data"]["account_id"] for n in notices) == sorted(str(population[k]) for k in AFFECTED)
    assert client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()["counts"]["announced"] == 3


def test_d_rev_4_a_crash_mid_revocation_batch_resumes_without_revoking_or_telling_anyone_twice(
    client: FlaskClient,
    population: dict[str, uuid.UUID],
    clock_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    more = [add_account(last_access_at=datetime(2014, 1, 1, tzinfo=UTC)) for _ in range(3)]
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    work_until_idle(batch_size=10)
    clock.set_offset(clock_file, timedelta(days=41).total_seconds())
    assert service.work_once(db=db, batch_size=2).kind == "started"
    assert service.work_once(db=db, batch_size=2).count == 2
    original = execute.end_sessions

    def crash(*args: Any, **kwargs: Any) -> int:
        # After the batch's UPDATE, outbox rows and audit entries, before its commit: a kill -9 there.
        original(*args, **kwargs)
        raise RuntimeError("killed before the commit")

    monkeypatch.setattr(execute, "end_sessions", crash)
    with pytest.raises(RuntimeError):
        service.work_once(db=db, batch_size=2)
    monkeypatch.undo()
    steps = work_until_idle(batch_size=2)

    everyone = sorted(str(i) for i in [*(population[k] for k in AFFECTED), *more])
    assert steps[-1].kind == "done"
    assert sorted(e["data"]["account_id"] for e in events("iam.account_revoked")) == everyone
    assert {k: state_of(v) for k, v in population.items() if k in AFFECTED} == dict.fromkeys(
        AFFECTED, "revoked"
    )
    with db.transaction() as session:
        audited = session.scalars(select(AuditEntry.account_id).where(AuditEntry.action == "account.revoked"))
        assert sorted(str(i) for i in audited) == everyone
        versions = session.scalars(select(Account.credentials_version).where(Account.state == "revoked"))
        assert set(versions) == {2}  # bumped once, not once per attempt
    assert client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()["counts"]["revoked"] == len(everyone)


def test_d_rev_4_the_cli_creates_previews_and_lists_rounds(
    app: Flask, population: dict[str, uuid.UUID]
) -> None:
    runner = app.test_cli_runner()

    created = runner.invoke(
        args=[
            "revocation",
            "create",
            "--cutoff",
            CUTOFF,
            "--deadline",
            deadline_in(40),
            "--reminder-days",
            "10,2",
        ]
    )
    round_id = json.loads(created.output)["id"]
    previewed = runner.invoke(args=["revocation", "preview", round_id])
    refused = runner.invoke(
        args=["revocation", "create", "--cutoff", CUTOFF, "--deadline", "2001-01-01T00:00"]
    )
    listed = runner.invoke(args=["revocation", "list"])

    assert created.exit_code == 0 and json.loads(created.output)["reminder_days"] == [10, 2]
    assert json.loads(previewed.output)["affected"] == 3
    assert refused.exit_code != 0 and "deadline_in_past" in refused.output
    assert round_id in listed.output and "affected=3" in listed.output
    with db.transaction() as session:
        assert session.scalar(select(RevocationRound.created_by)) == "ops:cli"
        assert (
            session.scalar(select(func.count()).where(AuditEntry.action == "revocation.round_previewed")) == 1
        )


def test_d_rev_4_the_ops_page_lists_rounds_with_counts_for_ops_only(
    client: FlaskClient, population: dict[str, uuid.UUID]
) -> None:
    ops = add_account(username="ops.user", created_at=datetime.now(UTC), activated_at=datetime.now(UTC))
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/preview", headers=OPS)
    login(client, username="ops.user")

    refused = client.get("/iam/area-riservata/revoche")
    with db.transaction() as session:
        session.get(Account, ops).roles = ["ops"]  # type: ignore[union-attr]
    page = client.get("/iam/area-riservata/revoche")
    english = client.get("/iam/area-riservata/revoche", headers={"Accept-Language": "en"})

    assert refused.status_code == 403
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'data-round="{round_id}"' in text and "Bozza" in text and "Revoche utenze inattive" in text
    assert "<td>3</td>" in text
    assert "Revocation of inactive accounts" in english.get_data(as_text=True)


def test_d_rev_5_dates_are_read_in_italian_time() -> None:
    assert service.cutoff_instant(date(2015, 3, 1)) == datetime(2015, 2, 28, 23, tzinfo=UTC)
    assert service.parse_local_deadline("2017-07-12T24:00") == datetime(2017, 7, 12, 22, tzinfo=UTC)


def test_d_rev_3_two_workers_at_once_take_turns_and_revoke_and_notify_each_account_once(
    client: FlaskClient, population: dict[str, uuid.UUID], clock_file: Path
) -> None:
    more = [add_account(last_access_at=datetime(2014, 1, 1, tzinfo=UTC)) for _ in range(7)]
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(100):
                if service.work_once(db=db, batch_size=1).kind in ("idle", "done"):
                    return
        except BaseException as error:
            errors.append(error)

    def both() -> None:
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    both()  # the announcement
    clock.set_offset(clock_file, timedelta(days=41).total_seconds())
    both()  # the execution

    everyone = sorted(str(i) for i in [*(population[k] for k in AFFECTED), *more])
    assert errors == []
    assert sorted(n["data"]["account_id"] for n in events("iam.revocation_announced")) == everyone
    assert sorted(e["data"]["account_id"] for e in events("iam.account_revoked")) == everyone
    body = client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()
    assert body["state"] == "done"
    assert body["counts"]["announced"] == len(everyone) and body["counts"]["revoked"] == len(everyone)
    with db.transaction() as session:
        revoked_entries = session.scalar(
            select(func.count()).where(AuditEntry.action == service.REVOKED_ACTION)
        )
    assert revoked_entries == len(everyone)
