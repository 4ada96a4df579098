"""Area Riservata and security-officer pages (D-ACC-7, D-ACC-8, D-ACC-2) with IAM's session and CSRF."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam import create_app
from iam.accounts.models import AccountKind
from iam.extensions import db
from iam.models import all_metadata
from iam_recovery_support import (
    CF_GIULIA,
    PASSWORD,
    app_config,
    audit_entries,
    csrf_token,
    events,
    load_account,
    make_account,
    sign_in,
    unseal,
)
from polis.testing import free_port

NEW_PASSWORD = "girasole-fiume-quaderno-lento"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(app_config(database_url, free_port()))
    all_metadata().create_all(db.engine)
    yield app
    db.dispose()


def submit(client: FlaskClient, page: str, action: str | None = None, **fields: str) -> tuple[int, str, str]:
    token = csrf_token(client, page)
    response = client.post(action or page, data={"csrf_token": token, **fields})
    return response.status_code, response.headers.get("Location", ""), response.get_data(as_text=True)


def test_d_acc_7_the_area_needs_a_login(app: Flask, client: FlaskClient) -> None:
    response = client.get("/iam/area-riservata/password")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/iam/accedi?next=")


def test_d_acc_7_d_acc_8_personal_data_with_the_institutional_email_read_only(
    app: Flask, client: FlaskClient
) -> None:
    sign_in(app, client, make_account(db, institutional_email="mario.rossi@istruzione.it"))

    html = client.get("/iam/area-riservata").get_data(as_text=True)

    assert "RSSMRA80A01H501U" in html and "mario.rossi@example.it" in html
    assert "mario.rossi@istruzione.it" in html and "non modificabile" in html
    assert 'name="institutional_email"' not in html


def test_issue_13_personal_data_show_the_sex_in_the_pages_language(app: Flask, client: FlaskClient) -> None:
    sign_in(app, client, make_account(db, sex="M"))

    html = client.get("/iam/area-riservata").get_data(as_text=True)

    assert ">Sesso</dt>" in html and ">Maschile</dd>" in html


def test_the_area_riservata_is_never_stored_by_a_cache(app: Flask, client: FlaskClient) -> None:
    sign_in(app, client, make_account(db))

    for page in ("/iam/area-riservata", "/iam/area-riservata/email", "/iam/area-riservata/password"):
        response = client.get(page)
        assert response.status_code == 200, page
        assert response.headers["Cache-Control"] == "no-store", page


def test_d_acc_7_an_email_change_waits_for_its_link(app: Flask, client: FlaskClient) -> None:
    account = make_account(db)
    sign_in(app, client, account)

    status, location, _ = submit(client, "/iam/area-riservata/email", email="mario@nuovo.example")

    assert (status, location) == (303, "/iam/area-riservata")
    assert load_account(db, account.id).personal_email == "mario.rossi@example.it"
    link = unseal(events(db, "iam.email_verification_requested")[0]["data"]["verification_url"])
    path = link.removeprefix("http://localhost:8080")
    browser = app.test_client()  # any browser: the link is the proof
    assert browser.get(path).status_code == 200  # a GET (a mail scanner) changes nothing
    assert load_account(db, account.id).personal_email == "mario.rossi@example.it"
    token = csrf_token(browser, path)
    status, _, html = submit(browser, path)
    assert status == 200 and "mario@nuovo.example" in html
    assert load_account(db, account.id).personal_email == "mario@nuovo.example"
    again = browser.post(path, data={"csrf_token": token})
    assert again.status_code == 400 and "Link non valido" in again.get_data(as_text=True)
    used = browser.get(path)  # issue 13: a used link no longer offers its confirm button
    assert used.status_code == 400 and "Conferma l'indirizzo" not in used.get_data(as_text=True)


def test_d_acc_7_email_errors_are_shown_next_to_the_field(app: Flask, client: FlaskClient) -> None:
    sign_in(app, client, make_account(db))

    status, _, html = submit(client, "/iam/area-riservata/email", email="someone@istruzione.it")

    assert status == 400 and 'id="email-error"' in html and "@istruzione.it" in html
    assert events(db) == []


def test_d_acc_7_a_password_change_on_the_page_ends_the_other_sessions(
    app: Flask, client: FlaskClient
) -> None:
    account = make_account(db)
    sign_in(app, client, account)
    other = app.test_client()
    sign_in(app, other, account)

    wrong = submit(
        client,
        "/iam/area-riservata/password",
        current_password="x",
        new_password=NEW_PASSWORD,
        confirm_password=NEW_PASSWORD,
    )
    differ = submit(
        client,
        "/iam/area-riservata/password",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        confirm_password="other",
    )
    done = submit(
        client,
        "/iam/area-riservata/password",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        confirm_password=NEW_PASSWORD,
    )

    assert wrong[0] == 400 and "La password attuale non è corretta." in wrong[2]
    assert differ[0] == 400 and 'id="confirm_password-error"' in differ[2]
    assert done[:2] == (303, "/iam/area-riservata")
    assert load_account(db, account.id).credentials_version == 2
    assert other.get("/iam/area-riservata").status_code == 302  # signed out
    assert client.get("/iam/area-riservata").status_code == 200  # still signed in here
    assert [e.action for e in audit_entries(db, "password.changed")] == ["password.changed"]


def test_d_acc_7_the_language_preference_on_the_page(app: Flask, client: FlaskClient) -> None:
    account = make_account(db)
    sign_in(app, client, account)

    status, location, _ = submit(client, "/iam/area-riservata", "/iam/area-riservata/lingua", language="en")

    # Issue 13 item 7: the pages follow at once, through the gateway's language switch (the lang cookie).
    assert (status, location) == (303, "/lingua/en?next=%2Fiam%2Farea-riservata")
    assert load_account(db, account.id).language == "en"
    client.set_cookie("lang", "en")  # what /lingua/en sets
    page = client.get("/iam/area-riservata").get_data(as_text=True)
    assert "Preferred language updated." in page and '<html lang="en">' in page


def test_d_acc_2_the_security_officer_page_resets_an_mi_account(app: Flask, client: FlaskClient) -> None:
    target = make_account(
        db,
        username="giulia.bianchi",
        codice_fiscale=CF_GIULIA,
        first_name="Giulia",
        last_name="Bianchi",
        kind=AccountKind.MI.value,
        personal_email=None,
        institutional_email="giulia.bianchi@istruzione.it",
    )
    officer = make_account(
        db, username="sara.neri", codice_fiscale="NRESRA75C50A662Q", roles=["security_officer"]
    )
    sign_in(app, client, officer)

    html = client.get("/iam/area-riservata/sicurezza?q=giulia.bianchi").get_data(as_text=True)
    assert CF_GIULIA in html
    # Issue 13 item 7: the result's button only asks; its page names the account and waits for a confirm.
    confirm_page = f"/iam/area-riservata/sicurezza/reset/{target.id}?q=giulia.bianchi"
    assert f'href="{confirm_page}"' in html and 'method="post"' not in html.split("<table", 1)[1]
    html = client.get(confirm_page).get_data(as_text=True)
    assert "Conferma il reset" in html and CF_GIULIA in html and "giulia.bianchi@istruzione.it" in html
    status, _, _ = submit(client, confirm_page, f"/iam/area-riservata/sicurezza/reset/{target.id}", q="x")
    assert status == 200 and events(db, "iam.temporary_password_issued") == []  # no confirm: nothing
    status, location, _ = submit(
        client,
        confirm_page,
        f"/iam/area-riservata/sicurezza/reset/{target.id}",
        q="giulia.bianchi",
        confirm="yes",
    )

    assert status == 303 and location.endswith("q=giulia.bianchi")
    [issued] = events(db, "iam.temporary_password_issued")
    assert issued["data"]["issued_by"] == "security_officer"
    [entry] = audit_entries(db, "mi_password.reset")
    assert entry.actor == f"account:{officer.id}"


def test_d_acc_2_the_security_page_is_refused_to_others(app: Flask, client: FlaskClient) -> None:
    sign_in(app, client, make_account(db))

    response = client.get("/iam/area-riservata/sicurezza")

    assert response.status_code == 403
    assert "Traceback" not in response.get_data(as_text=True)
