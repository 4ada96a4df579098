"""The recovery API through Flask's test client: uniform answers (D-ACC-5, D-ACC-6), MI refusal (D-ACC-2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam import create_app
from iam.accounts.models import AccountKind
from iam.extensions import db
from iam.models import all_metadata
from iam_recovery_support import CF_GIULIA, CF_MARIO, app_config, captcha, events, make_account
from polis.testing import free_port


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(app_config(database_url, free_port()))
    all_metadata().create_all(db.engine)
    yield app
    db.dispose()


def ask_username(client: FlaskClient, codice_fiscale: str) -> tuple[int, dict]:
    response = client.post(
        "/api/iam/v1/recovery/username", json={"codice_fiscale": codice_fiscale, "captcha": captcha()}
    )
    return response.status_code, response.get_json()


def ask_password(client: FlaskClient, username: str, codice_fiscale: str) -> tuple[int, dict]:
    response = client.post(
        "/api/iam/v1/recovery/password",
        json={"username": username, "codice_fiscale": codice_fiscale, "captcha": captcha()},
    )
    return response.status_code, response.get_json()


def test_d_acc_5_known_and_unknown_codici_fiscali_get_the_same_answer(
    app: Flask, client: FlaskClient
) -> None:
    make_account(db)

    known = ask_username(client, CF_MARIO)
    unknown = ask_username(client, CF_GIULIA)

    assert known == unknown
    assert known[0] == 202
    assert len(events(db, "iam.username_reminder_requested")) == 1


def test_d_acc_6_matching_and_not_matching_pairs_get_the_same_answer(app: Flask, client: FlaskClient) -> None:
    make_account(db)

    answers = [
        ask_password(client, "mario.rossi", CF_MARIO),
        ask_password(client, "mario.rossi", CF_GIULIA),
        ask_password(client, "nessuno", CF_MARIO),
    ]

    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 202
    assert len(events(db, "iam.temporary_password_issued")) == 1


def test_d_acc_2_d_acc_6_an_mi_account_is_told_to_use_sidi_or_the_security_officer(
    app: Flask, client: FlaskClient
) -> None:
    make_account(db, kind=AccountKind.MI.value)

    status, body = ask_password(client, "mario.rossi", CF_MARIO)

    assert status == 409
    assert body["error"]["code"] == "institutional_account"
    assert "SIDI" in body["error"]["message"]
    assert events(db) == []


def test_d_acc_5_a_wrong_captcha_is_refused_next_to_its_field(app: Flask, client: FlaskClient) -> None:
    response = client.post(
        "/api/iam/v1/recovery/username", json={"codice_fiscale": CF_MARIO, "captcha": "no"}
    )

    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {"captcha": ["captcha_failed"]}


def test_d_acc_5_a_captcha_solution_works_once(app: Flask, client: FlaskClient) -> None:
    solution = captcha()
    first = client.post(
        "/api/iam/v1/recovery/username", json={"codice_fiscale": CF_MARIO, "captcha": solution}
    )
    again = client.post(
        "/api/iam/v1/recovery/username", json={"codice_fiscale": CF_MARIO, "captcha": solution}
    )

    assert (first.status_code, again.status_code) == (202, 400)


@pytest.mark.parametrize(
    "body",
    [
        {"codice_fiscale": "TOO-SHORT", "captcha": "x"},
        {"codice_fiscale": CF_MARIO},
        {"codice_fiscale": CF_MARIO, "captcha": "x", "email": "extra@example.it"},
        {"codice_fiscale": CF_MARIO * 10, "captcha": "x"},
        # the right form, a wrong check character (issue 13 item 5): refused, as registration refuses it
        {"codice_fiscale": CF_MARIO[:15] + ("A" if CF_MARIO[15] != "A" else "B"), "captcha": "x"},
    ],
)
def test_d_acc_5_bad_input_is_refused_with_the_error_shape(
    app: Flask, client: FlaskClient, body: dict
) -> None:
    response = client.post("/api/iam/v1/recovery/username", json=body)

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_failed"
    assert events(db) == []


def test_d_acc_6_unknown_fields_are_refused(app: Flask, client: FlaskClient) -> None:
    response = client.post(
        "/api/iam/v1/recovery/password",
        json={
            "username": "mario.rossi",
            "codice_fiscale": CF_MARIO,
            "captcha": captcha(),
            "new_password": "x",
        },
    )

    assert response.status_code == 400
    assert "new_password" in response.get_json()["error"]["fields"]
