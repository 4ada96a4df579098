"""IAM's login page: the states after a correct password (D-ACC-4), temporary passwords and the forced
change (D-ACC-6), disabled and revoked accounts with what to do (D-ACC-9), audit and last access."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.accounts.models import Account, AccountState
from iam.audit.models import AuditEntry
from iam.extensions import db
from iam.models import outbox
from iam.passwords.hashing import hash_secret, hasher
from iam.signin.models import SsoSession
from oidc_helpers import (
    PASSWORD,
    change_password,
    error_text,
    get_account,
    issue_temporary_password,
    login,
    make_account,
    make_app,
)
from sqlalchemy import func, select, update

TEMPORARY = "Tmp9xQ4pZr7Kw2Ld"
NEW_PASSWORD = "girasoli azzurri sul tetto di marmo"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def audit_actions(account_id: object | None = None) -> list[str]:
    with db.transaction() as session:
        query = select(AuditEntry.action).order_by(AuditEntry.occurred_at)
        if account_id is not None:
            query = query.where(AuditEntry.account_id == account_id)
        return list(session.scalars(query))


def test_the_login_page_has_labelled_fields_and_the_recovery_links(client: FlaskClient) -> None:
    page = client.get("/iam/accedi").get_data(as_text=True)

    assert '<label class="active" for="username">' in page
    assert '<label class="active" for="password">' in page
    assert 'href="/iam/password-dimenticata"' in page
    assert 'href="/iam/recupero-username"' in page
    assert 'href="/iam/registrazione"' in page


def test_an_active_account_logs_in_and_goes_on(client: FlaskClient) -> None:
    """D-ACC-4: active -> continue (the personal home, or the authorization that asked for the login)."""
    account_id = make_account()

    response = login(client, next_path="/oidc/authorize?client_id=portal")

    assert response.status_code == 303
    assert response.location == "/oidc/authorize?client_id=portal"
    assert "iam_sso=" in response.headers["Set-Cookie"]
    assert "HttpOnly" in response.headers["Set-Cookie"] and "SameSite=Lax" in response.headers["Set-Cookie"]
    account = get_account(account_id)
    assert account.last_access_at is not None
    assert audit_actions(account_id) == ["login.succeeded"]


def test_next_is_never_an_open_redirect(client: FlaskClient) -> None:
    make_account()

    response = login(client, next_path="//evil.example/")

    assert response.location == "/iam/area-riservata"


@pytest.mark.parametrize("username", ["mario.rossi", "nessuno.qui"])
def test_a_wrong_password_and_an_unknown_username_get_the_same_answer(
    client: FlaskClient, username: str
) -> None:
    make_account()

    response = login(client, username=username, password="sbagliata sbagliata sbagliata")

    assert response.status_code == 401
    assert "Nome utente o password non corretti." in error_text(response)
    assert "iam_sso=" not in response.headers.get("Set-Cookie", "")
    assert "login.failed" in audit_actions()


def test_empty_and_over_long_fields_are_refused_next_to_the_field(client: FlaskClient) -> None:
    from oidc_helpers import csrf_token

    response = client.post(
        "/iam/accedi", data={"username": "x" * 65, "password": "", "csrf_token": csrf_token(client)}
    )

    assert response.status_code == 400
    text = error_text(response)
    assert 'id="username-error"' in text and "Il nome utente è troppo lungo." in text
    assert 'id="password-error"' in text and "Inserisci la password." in text
    assert [action for action in audit_actions() if action.startswith("login.")] == []  # no attempt counted


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (AccountState.REVOKED.value, "registrarti di nuovo"),
        (AccountState.DISABLED.value, "disabilitato"),
    ],
)
def test_disabled_and_revoked_accounts_are_refused_with_the_reason_and_what_to_do(
    client: FlaskClient, state: str, expected: str
) -> None:
    """D-ACC-4, D-ACC-9: refused with the reason and what to do (register again, helpdesk)."""
    account_id = make_account(state=state)

    response = login(client)

    assert response.status_code == 403
    assert expected in error_text(response)
    assert "iam_sso=" not in response.headers.get("Set-Cookie", "")
    assert get_account(account_id).last_access_at is None


def test_a_revoked_account_with_a_wrong_password_learns_nothing(client: FlaskClient) -> None:
    make_account(state=AccountState.REVOKED.value)

    response = login(client, password="non è la password giusta")

    assert response.status_code == 401
    assert "revocato" not in error_text(response)


def test_a_temporary_password_logs_in_once_and_forces_the_change(client: FlaskClient) -> None:
    """D-ACC-6: the temporary password works once; at the first login the user must choose a new one."""
    account_id = make_account()
    issue_temporary_password(account_id, TEMPORARY)

    response = login(client, password=TEMPORARY, next_path="/iam/area-riservata")

    assert response.status_code == 303
    assert response.location.startswith("/iam/cambio-password?next=")
    assert get_account(account_id).state == AccountState.MUST_CHANGE_PASSWORD.value
    # Single use: the same temporary password does not work again.
    other = client.application.test_client()
    assert login(other, password=TEMPORARY).status_code == 401


def test_the_old_password_keeps_working_until_the_temporary_one_is_used(client: FlaskClient) -> None:
    """D-ACC-6: asking for a temporary password changes nothing about the account until it is used."""
    account_id = make_account()
    issue_temporary_password(account_id, TEMPORARY)

    assert login(client).status_code == 303
    assert get_account(account_id).state == AccountState.ACTIVE.value


def test_an_expired_temporary_password_does_not_work(client: FlaskClient) -> None:
    account_id = make_account()
    issue_temporary_password(account_id, TEMPORARY, minutes=-1)

    assert login(client, password=TEMPORARY).status_code == 401


def test_a_must_change_session_reaches_nothing_but_the_change(client: FlaskClient) -> None:
    account_id = make_account()
    issue_temporary_password(account_id, TEMPORARY)
    login(client, password=TEMPORARY)

    from oidc_helpers import authorize_url, pkce

    response = client.get(authorize_url(pkce()[1]))

    assert response.status_code == 302
    assert response.location.startswith("/iam/cambio-password?next=")


def test_the_temporary_password_never_becomes_the_long_term_one(client: FlaskClient) -> None:
    """ASVS 5 6.4.1 (D-ACC-6)."""
    account_id = make_account()
    issue_temporary_password(account_id, TEMPORARY)
    login(client, password=TEMPORARY)

    response = change_password(client, TEMPORARY)

    assert response.status_code == 400
    assert "password temporanea" in error_text(response)
    assert get_account(account_id).state == AccountState.MUST_CHANGE_PASSWORD.value


def test_the_new_password_follows_the_policy(client: FlaskClient) -> None:
    account_id = make_account()
    issue_temporary_password(account_id, TEMPORARY)
    login(client, password=TEMPORARY)

    too_short = change_password(client, "corta")
    mismatch = change_password(client, NEW_PASSWORD, confirm=NEW_PASSWORD + "x")

    assert too_short.status_code == 400 and 'id="new_password-error"' in error_text(too_short)
    assert mismatch.status_code == 400 and "Le due password non coincidono." in error_text(mismatch)
    assert get_account(account_id).state == AccountState.MUST_CHANGE_PASSWORD.value


def test_the_forced_change_ends_other_sessions_and_keeps_this_one(client: FlaskClient) -> None:
    account_id = make_account()
    elsewhere = client.application.test_client()
    login(elsewhere)
    issue_temporary_password(account_id, TEMPORARY)
    login(client, password=TEMPORARY)

    response = change_password(client, NEW_PASSWORD, next_path="/iam/area-riservata")

    assert response.status_code == 303
    assert response.location == "/iam/area-riservata"
    account = get_account(account_id)
    assert account.state == AccountState.ACTIVE.value
    assert account.credentials_version == 2
    assert "password.changed" in audit_actions(account_id)
    with db.transaction() as session:
        events = session.execute(select(outbox.c.event_type)).scalars().all()
        open_sessions = session.scalar(
            select(func.count()).select_from(SsoSession).where(SsoSession.ended_at.is_(None))
        )
    assert "iam.password_changed" in events
    assert open_sessions == 1  # this browser's new one
    from oidc_helpers import asks_for_the_password, authorize_url, pkce

    assert asks_for_the_password(elsewhere.get(authorize_url(pkce()[1])))
    assert client.get(authorize_url(pkce()[1])).status_code == 302
    # and the new password is the one that works now
    assert login(client.application.test_client(), password=NEW_PASSWORD).status_code == 303
    assert login(client.application.test_client(), password=PASSWORD).status_code == 401


def test_a_hash_with_old_parameters_is_upgraded_at_login(client: FlaskClient) -> None:
    """Issue 3 item 4: re-hashed at login when the parameters change."""
    account_id = make_account()
    old = hash_secret(PASSWORD, ph=hasher(128, 1))
    with db.transaction() as session:
        session.execute(update(Account).where(Account.id == account_id).values(password_hash=old))

    assert login(client).status_code == 303

    upgraded = get_account(account_id).password_hash
    assert upgraded != old and "m=256,t=1" in (upgraded or "")


def test_the_audit_entry_records_the_origin(client: FlaskClient) -> None:
    """Issue 3 item 10: time, account, source address, user agent and request id."""
    account_id = make_account()

    login(client, next_path="/")

    with db.transaction() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.account_id == account_id)).scalar_one()
    assert entry.action == "login.succeeded"
    assert entry.source_address == "127.0.0.1"
    assert entry.request_id
    assert entry.occurred_at is not None
