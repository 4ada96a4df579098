"""Area Riservata API through Flask's test client and IAM's SSO cookie (D-ACC-7, D-ACC-8)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam import create_app
from iam.accounts.models import AccountState
from iam.clients.demo import ensure_portal_client
from iam.extensions import db
from iam.keys import service as keys
from iam.models import all_metadata
from iam.oidc.models import AccessToken
from iam.signin import sessions
from iam_recovery_support import PASSWORD, app_config, events, load_account, make_account, sign_in, unseal
from polis.testing import free_port

NEW_PASSWORD = "girasole-fiume-quaderno-lento"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(app_config(database_url, free_port()))
    all_metadata().create_all(db.engine)
    yield app
    db.dispose()


def test_d_acc_7_personal_data_need_a_session(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/iam/v1/me")

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_d_acc_7_d_acc_8_personal_data_show_both_addresses_and_no_secret(
    app: Flask, client: FlaskClient
) -> None:
    account = make_account(db, institutional_email="mario.rossi@istruzione.it")
    sign_in(app, client, account)

    body = client.get("/api/iam/v1/me").get_json()

    assert body["codice_fiscale"] == "RSSMRA80A01H501U"
    assert body["personal_email"] == "mario.rossi@example.it"
    assert body["institutional_email"] == body["reference_email"] == "mario.rossi@istruzione.it"
    assert not {"password_hash", "security_answer_hash", "credentials_version"} & set(body)


def test_issue_17_the_last_access_carries_its_utc_offset_as_the_document_promises(
    app: Flask, client: FlaskClient
) -> None:
    account = make_account(db)
    with app.app_context(), db.transaction() as session:
        session.get_one(type(account), account.id).last_access_at = datetime(
            2026, 12, 2, 8, 8, 59, tzinfo=UTC
        )
    sign_in(app, client, account)

    body = client.get("/api/iam/v1/me").get_json()

    # SQLite hands the stored UTC time back naive: it is still dumped as a date-time with its offset.
    assert datetime.fromisoformat(body["last_access_at"]) == datetime(2026, 12, 2, 8, 8, 59, tzinfo=UTC)
    assert body["last_access_at"].endswith("+00:00")


def test_d_acc_7_the_institutional_email_cannot_be_edited(app: Flask, client: FlaskClient) -> None:
    account = make_account(db, institutional_email="mario.rossi@istruzione.it")
    sign_in(app, client, account)

    patched = client.patch(
        "/api/iam/v1/me", json={"language": "en", "institutional_email": "x@istruzione.it"}
    )

    assert patched.status_code == 400
    assert "institutional_email" in patched.get_json()["error"]["fields"]
    assert load_account(db, account.id).institutional_email == "mario.rossi@istruzione.it"


def test_d_acc_7_an_email_change_takes_effect_only_after_verification(
    app: Flask, client: FlaskClient
) -> None:
    account = make_account(db)
    sign_in(app, client, account)

    requested = client.post("/api/iam/v1/me/email", json={"email": "mario@nuovo.example"})

    assert requested.status_code == 202
    assert client.get("/api/iam/v1/me").get_json()["personal_email"] == "mario.rossi@example.it"
    link = unseal(events(db, "iam.email_verification_requested")[0]["data"]["verification_url"])
    token = link.rsplit("/", 1)[1]
    anonymous = app.test_client()  # the link works from any browser: it is the proof
    assert anonymous.post("/api/iam/v1/me/email/verify", json={"token": token}).status_code == 200
    assert anonymous.post("/api/iam/v1/me/email/verify", json={"token": token}).get_json()["error"][
        "code"
    ] == ("invalid_token")
    assert client.get("/api/iam/v1/me").get_json()["personal_email"] == "mario@nuovo.example"
    assert len(events(db, "iam.personal_email_changed")) == 1


def test_d_acc_7_a_password_change_ends_the_other_sessions_but_keeps_this_one(
    app: Flask, client: FlaskClient
) -> None:
    account = make_account(db)
    sign_in(app, client, account)
    other = app.test_client()
    sign_in(app, other, account)
    assert other.get("/api/iam/v1/me").status_code == 200

    wrong = client.post(
        "/api/iam/v1/me/password", json={"current_password": "nope", "new_password": NEW_PASSWORD}
    )
    changed = client.post(
        "/api/iam/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert wrong.status_code == 400
    assert wrong.get_json()["error"]["fields"] == {"current_password": ["wrong_password"]}
    assert changed.status_code == 200
    assert load_account(db, account.id).credentials_version == 2
    assert other.get("/api/iam/v1/me").status_code == 401  # the other browser's session is over
    assert client.get("/api/iam/v1/me").status_code == 200  # this browser got a fresh session
    assert len(events(db, "iam.password_changed")) == 1


def test_d_acc_4_an_account_that_must_change_its_password_cannot_use_the_area(
    app: Flask, client: FlaskClient
) -> None:
    account = make_account(db, state=AccountState.MUST_CHANGE_PASSWORD.value)
    sign_in(app, client, account)

    assert client.get("/api/iam/v1/me").status_code == 401
    assert client.get_cookie(sessions.COOKIE) is not None


def test_d_acc_7_the_language_preference_changes(app: Flask, client: FlaskClient) -> None:
    account = make_account(db)
    sign_in(app, client, account)

    response = client.patch("/api/iam/v1/me", json={"language": "en"})
    refused = client.patch("/api/iam/v1/me", json={"language": "fr"})

    assert response.get_json()["language"] == "en"
    assert refused.status_code == 400
    assert len(events(db, "iam.account_profile_changed")) == 1


def access_token(
    app: Flask, account_id: object, *, credentials_version: int = 1, scope: str = "openid iam"
) -> str:
    """A JWT access token of IAM's provider for the account, recorded as the token endpoint records it."""
    now = datetime.now(UTC)
    jti = secrets.token_urlsafe(16)
    with app.app_context():
        ensure_portal_client(db)
        claims = {
            "iss": app.config["OIDC_ISSUER"],
            "sub": str(account_id),
            "aud": ["urn:polis:iam"],
            "client_id": "portal",
            "scope": scope,
            "roles": ["user"],
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + 300,
            "jti": jti,
        }
        token = keys.sign(db, claims, typ="at+jwt")
        with db.transaction() as session:
            session.add(
                AccessToken(
                    jti=jti,
                    client_id="portal",
                    account_id=account_id,
                    credentials_version=credentials_version,
                    scope=scope,
                    issued_at=now,
                    expires_at=now + timedelta(minutes=5),
                )
            )
    return token


def test_d_acc_7_the_api_accepts_an_access_token_as_it_comes_through_the_gateway(
    app: Flask, client: FlaskClient
) -> None:
    account = make_account(db)
    bearer = {"Authorization": f"Bearer {access_token(app, account.id)}"}

    me = client.get("/api/iam/v1/me", headers=bearer)
    changed = client.post(
        "/api/iam/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer,
    )

    assert me.status_code == 200 and me.get_json()["username"] == "mario.rossi"
    assert changed.status_code == 200
    # The change ended every session and token, this one too.
    assert client.get("/api/iam/v1/me", headers=bearer).status_code == 401
    assert client.get("/api/iam/v1/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401


def test_issue_5_the_api_refuses_a_token_not_issued_for_it(app: Flask, client: FlaskClient) -> None:
    account = make_account(db)
    # A good token of the same user, but without the `iam` scope: issued for another API or for userinfo.
    bearer = {"Authorization": f"Bearer {access_token(app, account.id, scope='openid profile')}"}

    assert client.get("/api/iam/v1/me", headers=bearer).status_code == 401
