"""The recovery pages (D-ACC-5, D-ACC-6, D-ACC-9): labelled forms, inline errors, uniform answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam import create_app
from iam.accounts.models import AccountKind
from iam.extensions import db
from iam.models import all_metadata
from iam_recovery_support import CF_GIULIA, CF_MARIO, app_config, captcha, csrf_token, events, make_account
from polis.testing import free_port


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(app_config(database_url, free_port()))
    all_metadata().create_all(db.engine)
    yield app
    db.dispose()


def post(client: FlaskClient, path: str, **fields: str) -> tuple[int, str]:
    token = csrf_token(client, path)
    response = client.post(path, data={"csrf_token": token, "captcha": captcha(), **fields})
    return response.status_code, response.get_data(as_text=True)


def test_d_acc_5_the_page_has_labelled_fields_the_captcha_and_the_helpdesk(
    app: Flask, client: FlaskClient
) -> None:
    html = client.get("/iam/recupero-username").get_data(as_text=True)

    assert '<label class="active" for="codice_fiscale">Codice fiscale</label>' in html
    assert 'name="captcha"' in html
    assert "080 9267603" in html  # D-ACC-9


def test_d_acc_5_known_and_unknown_codici_fiscali_get_the_same_page(app: Flask, client: FlaskClient) -> None:
    make_account(db)

    known = post(client, "/iam/recupero-username", codice_fiscale=CF_MARIO)
    unknown = post(client, "/iam/recupero-username", codice_fiscale=CF_GIULIA)

    assert known == unknown
    assert known[0] == 200 and "Richiesta ricevuta" in known[1]
    assert len(events(db, "iam.username_reminder_requested")) == 1


def test_d_acc_6_matching_and_not_matching_pairs_get_the_same_page(app: Flask, client: FlaskClient) -> None:
    make_account(db)

    match = post(client, "/iam/password-dimenticata", username="mario.rossi", codice_fiscale=CF_MARIO)
    other = post(client, "/iam/password-dimenticata", username="mario.rossi", codice_fiscale=CF_GIULIA)

    assert match == other and match[0] == 200
    assert len(events(db, "iam.temporary_password_issued")) == 1


def test_d_acc_2_the_mi_guidance_page(app: Flask, client: FlaskClient) -> None:
    make_account(db, kind=AccountKind.MI.value)

    status, html = post(client, "/iam/password-dimenticata", username="mario.rossi", codice_fiscale=CF_MARIO)

    assert status == 409 and "SIDI" in html and "referente per la sicurezza" in html


def test_d_acc_5_bad_input_is_shown_next_to_the_field_in_the_users_language(
    app: Flask, client: FlaskClient
) -> None:
    status, html = post(client, "/iam/recupero-username", codice_fiscale="ABC")
    client.set_cookie("lang", "en")
    status_en, html_en = post(client, "/iam/password-dimenticata", username="", codice_fiscale="ABC")

    assert status == 400
    assert 'id="codice_fiscale-error"' in html and "16 caratteri" in html
    assert 'aria-invalid="true"' in html
    assert status_en == 400 and "16 characters" in html_en and "This field is required." in html_en
    assert "Forgot your password?" in html_en and 'lang="en"' in html_en
    assert events(db) == []


def test_d_acc_5_a_form_without_the_csrf_token_is_refused(app: Flask, client: FlaskClient) -> None:
    response = client.post("/iam/recupero-username", data={"codice_fiscale": CF_MARIO, "captcha": captcha()})

    assert response.status_code == 400
    assert events(db) == []


@pytest.mark.parametrize("path", ["/iam/recupero-username", "/iam/password-dimenticata"])
def test_both_recoveries_refuse_a_wrong_check_character_next_to_the_field(
    app: Flask, client: FlaskClient, path: str
) -> None:
    """Issue 13 item 5: it answered "Richiesta ricevuta" and nothing ever arrived."""
    mistyped = CF_MARIO[:15] + ("A" if CF_MARIO[15] != "A" else "B")
    status, html = post(client, path, username="mario.rossi", codice_fiscale=mistyped)

    assert status == 400
    assert 'id="codice_fiscale-error"' in html and "(di controllo) non corrisponde" in html
    assert events(db) == []
