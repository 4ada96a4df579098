"""The registration pages (D-ACC-3): steps with the progress indicator, inline errors in the user's language,
resuming from the cookie, the same answer for an existing codice fiscale, and the confirmation link's page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.accounts.models import Account
from iam.extensions import db
from registration_helpers import MARIO, PASSWORD, events, link_token, make_app
from sqlalchemy import select

BASE = "/iam/registrazione"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def form_fields(html: str) -> dict[str, str]:
    """The hidden inputs of the page's form (the CSRF token, the test captcha's answer)."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def post(client: FlaskClient, path: str, data: dict[str, str]) -> object:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return client.post(path, data={**form_fields(page.get_data(as_text=True)), **data})


def fill_steps(client: FlaskClient, email: str = "mario.rossi@example.it") -> None:
    answers = [
        ("step1", {"codice_fiscale": MARIO.codice_fiscale}),
        ("step2", MARIO.personal_data()),
        ("step3", {"personal_email": email}),
        ("step4", {"question": "Il nome del mio primo gatto?", "answer": "Fuffi Primo"}),
    ]
    for step, data in answers:
        response = post(client, f"{BASE}/{step}", data)
        assert response.status_code == 302, response.get_data(as_text=True)
        assert response.headers["Location"].endswith(f"step{int(step[-1]) + 1}")


def test_d_acc_3_the_first_step_shows_the_progress_the_labelled_field_and_the_captcha(
    client: FlaskClient,
) -> None:
    html = client.get(f"{BASE}/step1").get_data(as_text=True)

    assert 'aria-current="step"' in html
    assert "Passo 1 di 5" in html
    assert '<label class="active" for="codice_fiscale">Codice fiscale</label>' in html
    assert 'name="captcha"' in html
    assert "<script>" not in html


def test_d_acc_3_a_wrong_check_character_is_shown_next_to_the_field_in_italian(client: FlaskClient) -> None:
    wrong = MARIO.codice_fiscale[:15] + ("A" if MARIO.codice_fiscale[15] != "A" else "B")

    response = post(client, f"{BASE}/step1", {"codice_fiscale": wrong})

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="codice_fiscale-error"' in html
    assert "carattere (di controllo)" in html
    assert 'aria-invalid="true"' in html


def test_d_acc_3_the_messages_follow_the_language_cookie(client: FlaskClient) -> None:
    client.set_cookie("lang", "en")
    fill = post(client, f"{BASE}/step1", {"codice_fiscale": MARIO.codice_fiscale})
    assert fill.status_code == 302

    response = post(client, f"{BASE}/step2", MARIO.personal_data(sex="F"))

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The sex given does not match the codice fiscale." in html
    assert 'id="sex-error"' in html


def test_d_acc_3_a_missing_field_gets_a_readable_message_and_nothing_is_saved(client: FlaskClient) -> None:
    post(client, f"{BASE}/step1", {"codice_fiscale": MARIO.codice_fiscale})

    response = post(client, f"{BASE}/step2", MARIO.personal_data(birth_date=""))

    assert response.status_code == 400
    assert "Inserisci la data di nascita" in response.get_data(as_text=True)
    assert client.get(BASE).headers["Location"].endswith("/step2")


def test_d_acc_3_leaving_and_coming_back_resumes_at_the_step_reached(client: FlaskClient) -> None:
    post(client, f"{BASE}/step1", {"codice_fiscale": MARIO.codice_fiscale})
    post(client, f"{BASE}/step2", MARIO.personal_data())

    entry = client.get(BASE)
    skipped = client.get(f"{BASE}/step5")
    back = client.get(f"{BASE}/step2").get_data(as_text=True)

    assert entry.headers["Location"].endswith("/step3")
    assert skipped.headers["Location"].endswith("/step3")
    assert 'value="Rossi"' in back


def test_a_step_without_a_registration_goes_back_to_the_first_step(client: FlaskClient) -> None:
    response = client.get(f"{BASE}/step3")

    assert response.status_code == 302
    assert "/step1" in response.headers["Location"]


def test_issue_13_a_fresh_visit_to_a_later_step_is_not_told_its_registration_expired(
    client: FlaskClient,
) -> None:
    response = client.get(f"{BASE}/step3", follow_redirects=True)

    assert response.request.path == f"{BASE}/step1"
    assert "scadut" not in response.get_data(as_text=True)


def test_a_registration_cookie_that_no_longer_matches_is_told_it_expired(client: FlaskClient) -> None:
    client.set_cookie("iam_registration", "an-ended-registration")
    response = client.get(f"{BASE}/step3")

    assert response.headers["Location"].endswith("/step1?scaduta=1")


def test_d_acc_3_the_whole_registration_through_the_pages(client: FlaskClient) -> None:
    fill_steps(client)
    summary = client.get(f"{BASE}/step5").get_data(as_text=True)
    refused = post(client, f"{BASE}/step5", {})
    sent = post(client, f"{BASE}/step5", {"consent": "y"})

    assert "mario.rossi@example.it" in summary and "Roma (RM)" in summary
    assert refused.status_code == 400
    assert "consenso" in refused.get_data(as_text=True)
    assert sent.status_code == 302
    assert sent.headers["Location"].endswith("/inviata")
    token = link_token(events("iam.registration_confirmation_requested")[0])

    page = client.get(f"{BASE}/conferma/{token}").get_data(as_text=True)
    weak = post(client, f"{BASE}/conferma/{token}", {"password": "short", "password_confirmation": "short"})
    done = post(client, f"{BASE}/conferma/{token}", {"password": PASSWORD, "password_confirmation": PASSWORD})
    again = client.get(f"{BASE}/conferma/{token}")

    assert "almeno 15 caratteri" in page  # passphrases encouraged
    assert weak.status_code == 400
    assert 'id="password-error"' in weak.get_data(as_text=True)
    assert done.status_code == 200
    assert "<strong>mario.rossi</strong>" in done.get_data(as_text=True)
    assert again.status_code == 400
    assert "non è valido o è scaduto" in again.get_data(as_text=True)


def test_d_acc_3_an_existing_codice_fiscale_gets_the_same_pages_and_its_owner_is_told(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    fill_steps(first)
    new = post(first, f"{BASE}/step5", {"consent": "y"})
    fill_steps(second, email="someone.else@example.it")
    existing = post(second, f"{BASE}/step5", {"consent": "y"})

    assert (new.status_code, new.headers["Location"]) == (existing.status_code, existing.headers["Location"])
    assert first.get(f"{BASE}/inviata").get_data(as_text=True) == second.get(f"{BASE}/inviata").get_data(
        as_text=True
    )
    with db.transaction() as session:
        assert len(list(session.scalars(select(Account)))) == 1
    assert len(events("iam.registration_attempted_for_existing_account")) == 1


def test_issue_13_going_back_keeps_everything_typed_and_the_same_registration(
    app: Flask, client: FlaskClient
) -> None:
    """Issue 13 item 3 (D-ACC-3): "Indietro" from step 4 to step 1 keeps the registration, its progress and
    what was typed (even a step not valid yet); the same codice fiscale goes on without a new captcha."""
    from iam.registration.models import Registration

    fill_steps(client)
    response = post(client, f"{BASE}/step4", {"question": "Il nome", "answer": "", "direction": "back"})
    assert (response.status_code, response.headers["Location"]) == (302, f"{BASE}/step3")
    page = client.get(f"{BASE}/step3").get_data(as_text=True)
    assert 'value="mario.rossi@example.it"' in page
    response = post(
        client, f"{BASE}/step3", {"personal_email": "mario.rossi@example.it", "direction": "back"}
    )
    assert response.headers["Location"] == f"{BASE}/step2"
    page = client.get(f"{BASE}/step2").get_data(as_text=True)
    assert 'value="Rossi"' in page and 'value="1980-01-01"' in page
    response = post(client, f"{BASE}/step2", {**MARIO.personal_data(), "direction": "back"})
    assert response.headers["Location"] == f"{BASE}/step1"

    page = client.get(f"{BASE}/step1").get_data(as_text=True)
    assert f'value="{MARIO.codice_fiscale}"' in page
    assert page.count('class="confirmed"') == 2  # steps 2 and 3 still done; 1 is the current one
    csrf = form_fields(page)["csrf_token"]
    response = client.post(f"{BASE}/step1", data={"csrf_token": csrf, "codice_fiscale": MARIO.codice_fiscale})
    assert (response.status_code, response.headers["Location"]) == (302, f"{BASE}/step2")
    with db.transaction() as session:
        [registration] = session.scalars(select(Registration)).all()
    assert registration.completed_step == 3 and registration.personal_email == "mario.rossi@example.it"
    page = client.get(f"{BASE}/step4").get_data(as_text=True)
    assert 'value="Il nome"' in page  # the question typed before going back


def test_issue_13_another_codice_fiscale_at_step_1_keeps_the_data_to_check_again(
    app: Flask, client: FlaskClient
) -> None:
    from iam.registration.models import Registration

    fill_steps(client)
    page = client.get(f"{BASE}/step1").get_data(as_text=True)
    csrf = form_fields(page)["csrf_token"]
    refused = client.post(f"{BASE}/step1", data={"csrf_token": csrf, "codice_fiscale": "BNCGNN85T10A944B"})
    assert refused.status_code == 400  # a new codice fiscale needs the captcha again
    response = post(client, f"{BASE}/step1", {"codice_fiscale": "BNCGNN85T10A944B"})
    assert response.headers["Location"] == f"{BASE}/step2"
    with db.transaction() as session:
        [registration] = session.scalars(select(Registration)).all()
    assert (registration.codice_fiscale, registration.completed_step) == ("BNCGNN85T10A944B", 1)
    assert client.get(f"{BASE}/step3").status_code == 302  # step 2 must agree with the new one first
    assert 'value="Rossi"' in client.get(f"{BASE}/step2").get_data(as_text=True)
