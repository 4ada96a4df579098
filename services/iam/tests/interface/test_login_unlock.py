"""Issue 11 item 5: at the ceiling of consecutive failures (NIST SP 800-63B) the account's owner unlocks it
with a single-use link emailed to every address of the account, instead of waiting for ops: anyone could
lock anyone out for good. At most one email per lock period; the page answers the same for a name of
nobody (D-ACC-6 style uniform answers, D-ACC-4); a reused or forged link says so and changes nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.accounts import links
from iam.accounts.models import Account
from iam.audit.models import AuditEntry
from iam.extensions import db
from iam.models import outbox
from iam.signin import bruteforce, unlock
from iam.signin.models import LoginThrottle, UnlockLink
from itsdangerous import URLSafeTimedSerializer
from oidc_helpers import csrf_token, error_text, get_account, login, make_account, make_app
from polis.events import Event
from polis.events.contracts import validate
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, Opener
from sqlalchemy import func, select, update

WRONG = "non è questa la password"
CEILING = 3  # IAM_LOGIN_MAX_CONSECUTIVE_FAILURES for these tests (100 in production)
LOCK = {
    "LOGIN_LOCK_THRESHOLD": 2,
    "LOGIN_LOCK_STEP_SECONDS": 1.0,
    "LOGIN_LOCK_MAX_SECONDS": 1.0,
    "LOGIN_MAX_CONSECUTIVE_FAILURES": CEILING,
}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url, **LOCK)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def to_the_ceiling(client: FlaskClient, username: str = "mario.rossi") -> list:
    """CEILING wrong passwords in a row, each short lock waited out (as a patient attacker does)."""
    answers = []
    for _ in range(CEILING):
        end_short_locks()
        answers.append(login(client, username=username, password=WRONG))
    return answers


def end_short_locks() -> None:
    """Time passes: a lock that ends by itself has ended (the ceiling's does not)."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    with db.transaction() as session:
        for table in (Account, LoginThrottle):
            session.execute(
                update(table).where(table.locked_until < bruteforce.HARD_LOCK).values(locked_until=past)
            )


def unlock_events() -> list[Event]:
    with db.transaction() as session:
        rows = session.execute(
            select(outbox.c.payload).where(outbox.c.event_type == unlock.EVENT).order_by(outbox.c.id)
        ).all()
    return [Event.from_json(row.payload) for row in rows]


def link_of(event: Event) -> str:
    """The link as the notifier opens it from the sealed field (the dev key pair)."""
    return Opener({DEV_KEY_ID: DEV_PRIVATE_KEY}).open(event.data["unlock_url"])


def path_of(link: str) -> str:
    return link.removeprefix("http://localhost:8080")


def actions() -> list[str]:
    """Every audit entry's action (sorted: a multiset to compare before and after)."""
    with db.transaction() as session:
        return sorted(session.scalars(select(AuditEntry.action)))


def alert(response: object) -> str:
    """The login page's error box, white space folded: what the requester is told."""
    found = re.search(r'id="login-error"[^>]*>(.*?)</div>', error_text(response))
    return found.group(1).strip() if found else ""


def use(client: FlaskClient, path: str) -> object:
    page = client.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    return client.post(path, data={"csrf_token": token.group(1) if token else csrf_token(client)})


def test_at_the_ceiling_one_sealed_unlock_link_goes_to_the_account_audited(client: FlaskClient) -> None:
    account_id = make_account(institutional_email="m.rossi@istruzione.it")

    answers = to_the_ceiling(client)

    assert get_account(account_id).locked_until is not None
    assert bruteforce.at_ceiling(get_account(account_id))
    assert "collegamento per sbloccarlo" in alert(answers[-1])
    [event] = unlock_events()
    validate(event)  # the contract: account, sealed link, expiry, failures
    assert event.data["account_id"] == str(account_id) and event.data["failures"] == CEILING
    link = link_of(event)
    assert link.startswith("http://localhost:8080/iam/accedi/sblocca/")
    token = link.rsplit("/", 1)[1]
    assert token not in json.dumps(event.data)  # sealed: the clear link is nowhere in the event
    with db.transaction() as session:
        [row] = session.scalars(select(UnlockLink)).all()
    assert row.token_hash == links.hash_token(token) and row.used_at is None  # only the hash is kept
    assert "login.unlock_link_sent" in actions()


def test_at_most_one_unlock_email_per_lock_period(client: FlaskClient) -> None:
    account_id = make_account()
    to_the_ceiling(client)

    for _ in range(5):  # the attacker goes on: locked, and no more emails
        assert login(client, password=WRONG).status_code == 401
    assert login(client).status_code == 401  # not even the right password passes the ceiling

    assert len(unlock_events()) == 1
    # The period ends when the link expires unused: the next locked attempt sends one new link.
    with db.transaction() as session:
        session.execute(update(UnlockLink).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    login(client, password=WRONG)
    login(client, password=WRONG)
    assert len(unlock_events()) == 2
    assert all(event.data["account_id"] == str(account_id) for event in unlock_events())


def test_the_link_asks_for_a_click_then_resets_the_count_and_the_password_logs_in(
    client: FlaskClient,
) -> None:
    account_id = make_account()
    to_the_ceiling(client)
    path = path_of(link_of(unlock_events()[0]))

    page = client.get(path)  # a mail scanner fetching the link unlocks nothing
    assert page.status_code == 200 and "Sblocca l'accesso" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert bruteforce.at_ceiling(get_account(account_id))

    done = use(client, path)

    assert done.status_code == 200 and "Accesso sbloccato" in done.get_data(as_text=True)
    account = get_account(account_id)
    assert (account.failed_logins, account.locked_until) == (0, None)
    assert actions().count("login.unlocked") == 1
    with db.transaction() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "login.unlocked")).one()
    assert entry.account_id == account_id and entry.details["via"] == "email_link"
    assert entry.details["failures"] == CEILING
    assert login(client).status_code == 303  # the password works again


def test_a_reused_link_says_so_and_changes_nothing(client: FlaskClient) -> None:
    account_id = make_account()
    to_the_ceiling(client)
    path = path_of(link_of(unlock_events()[0]))
    assert use(client, path).status_code == 200
    to_the_ceiling(client)  # locked again at the ceiling (its new link is another one)
    before = get_account(account_id)
    audit_before = actions()

    shown = client.get(path)
    reused = client.post(path, data={"csrf_token": csrf_token(client)})

    for answer in (shown, reused):
        assert answer.status_code == 400
        assert "non è valido, è già stato usato o è scaduto" in answer.get_data(as_text=True)
    after = get_account(account_id)
    assert (after.failed_logins, after.locked_until) == (before.failed_logins, before.locked_until)
    assert bruteforce.at_ceiling(after)
    assert actions() == audit_before
    assert login(client).status_code == 401


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature tampered
        lambda token: URLSafeTimedSerializer("dev-registration", salt=unlock.LINK_SALT).dumps("made-up"),
        lambda token: "not-a-token",
    ],
)
def test_a_forged_link_says_so_and_changes_nothing(client: FlaskClient, forge: object) -> None:
    account_id = make_account()
    to_the_ceiling(client)
    token = link_of(unlock_events()[0]).rsplit("/", 1)[1]
    forged = forge(token)  # type: ignore[operator]
    audit_before = actions()

    shown = client.get(f"/iam/accedi/sblocca/{forged}")
    used = client.post(f"/iam/accedi/sblocca/{forged}", data={"csrf_token": csrf_token(client)})

    assert (shown.status_code, used.status_code) == (400, 400)
    assert "non è valido" in used.get_data(as_text=True)
    assert bruteforce.at_ceiling(get_account(account_id))
    assert actions() == audit_before
    with db.transaction() as session:
        assert session.scalar(select(func.count()).where(UnlockLink.used_at.is_not(None))) == 0


def test_a_name_of_nobody_at_the_ceiling_gets_the_same_page_and_nothing_is_sent(
    client: FlaskClient,
) -> None:
    make_account()
    known = to_the_ceiling(client)
    unknown = to_the_ceiling(client, username="nessuno.qui")

    assert [(r.status_code, alert(r)) for r in known] == [(r.status_code, alert(r)) for r in unknown]
    assert "collegamento per sbloccarlo" in alert(unknown[-1])
    assert len(unlock_events()) == 1  # the account's only
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(UnlockLink)) == 1
        throttle = session.scalars(select(LoginThrottle)).one()
    assert bruteforce.at_ceiling(throttle) and throttle.unlock_mailed_at is not None
    # Again for both: locked, the same words, still nothing more sent.
    assert alert(login(client, password=WRONG)) == alert(
        login(client, username="nessuno.qui", password=WRONG)
    )
    assert len(unlock_events()) == 1


def test_ops_unlock_ends_the_live_link(client: FlaskClient) -> None:
    account_id = make_account()
    to_the_ceiling(client)
    path = path_of(link_of(unlock_events()[0]))

    response = client.post(
        f"/api/iam/v1/ops/accounts/{account_id}/unlock",
        headers={"Authorization": "Bearer polis-dev-ops-token"},
    )

    assert response.status_code == 204
    assert client.get(path).status_code == 400  # the lock period is over with its link
    to_the_ceiling(client)
    assert len(unlock_events()) == 2  # a new lock at the ceiling sends a fresh link at once
