"""The registration JSON API (D-ACC-3, D-ACC-2): steps, checks against the codice fiscale, link, username."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.accounts.models import Account
from iam.audit.models import AuditEntry
from iam.extensions import db
from iam.registration.models import Registration, RegistrationConfirmation
from registration_helpers import (
    ANNA,
    API,
    MARIO,
    NICCOLO,
    PASSWORD,
    activate_through_api,
    captcha,
    events,
    link_token,
    make_app,
    register_through_api,
)
from sqlalchemy import func, select, update


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def start(client: FlaskClient, codice_fiscale: str, **extra: str) -> dict:
    response = client.post(API, json={"codice_fiscale": codice_fiscale, "captcha": captcha(), **extra})
    return {"status": response.status_code, **response.get_json()}


def accounts() -> list[Account]:
    with db.transaction() as session:
        return list(session.scalars(select(Account).order_by(Account.created_at)))


def audit_actions() -> list[str]:
    with db.transaction() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.occurred_at)))


# --- step 1 ----------------------------------------------------------------------------------------------


def test_d_acc_3_a_codice_fiscale_failing_the_checksum_is_refused_with_a_message_next_to_it(
    client: FlaskClient,
) -> None:
    wrong = MARIO.codice_fiscale[:15] + ("A" if MARIO.codice_fiscale[15] != "A" else "B")

    body = start(client, wrong)

    assert body["status"] == 400
    assert body["error"]["code"] == "validation_failed"
    assert "carattere (di controllo)" in body["error"]["fields"]["codice_fiscale"][0]
    assert accounts() == []


def test_d_acc_3_a_malformed_codice_fiscale_is_refused_in_english_when_asked(client: FlaskClient) -> None:
    body = start(client, "RSSMRA80", language="en")

    assert body["status"] == 400
    assert body["error"]["fields"]["codice_fiscale"][0].startswith(
        "The codice fiscale must have 16 characters"
    )


def test_d_acc_3_a_failed_captcha_is_refused_and_a_used_one_cannot_be_replayed(client: FlaskClient) -> None:
    refused = client.post(API, json={"codice_fiscale": MARIO.codice_fiscale, "captcha": "wrong"})
    answer = captcha()
    first = client.post(API, json={"codice_fiscale": MARIO.codice_fiscale, "captcha": answer})
    replay = client.post(API, json={"codice_fiscale": MARIO.codice_fiscale, "captcha": answer})

    assert refused.status_code == 400
    assert "captcha" in refused.get_json()["error"]["fields"]
    assert first.status_code == 201
    assert replay.status_code == 400
    assert "captcha" in replay.get_json()["error"]["fields"]


def test_unknown_and_over_long_fields_are_refused(client: FlaskClient) -> None:
    unknown = client.post(
        API, json={"codice_fiscale": MARIO.codice_fiscale, "captcha": captcha(), "role": "x"}
    )
    token = start(client, MARIO.codice_fiscale)["token"]
    too_long = client.put(
        f"{API}/current/personal-data",
        json=MARIO.personal_data(last_name="R" * 101),
        headers={"X-Registration-Token": token},
    )

    assert unknown.status_code == 400
    assert unknown.get_json()["error"]["fields"] == {"role": ["Unknown field."]}
    assert too_long.status_code == 400
    assert "last_name" in too_long.get_json()["error"]["fields"]


# --- step 2 ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("last_name", "Bianchi", "Il cognome non corrisponde"),
        ("first_name", "Luigi", "Il nome non corrisponde"),
        ("birth_date", "1980-01-02", "La data di nascita non corrisponde"),
        ("sex", "F", "Il sesso indicato non corrisponde"),
        ("birth_place", "Milano", "Il luogo di nascita non corrisponde"),
        ("birth_place", "Atlantide", "Luogo di nascita non trovato"),
    ],
)
def test_d_acc_3_each_personal_datum_that_disagrees_with_the_codice_fiscale_gets_its_own_message(
    client: FlaskClient, field: str, value: str, expected: str
) -> None:
    token = start(client, MARIO.codice_fiscale)["token"]

    response = client.put(
        f"{API}/current/personal-data",
        json=MARIO.personal_data(**{field: value}),
        headers={"X-Registration-Token": token},
    )

    assert response.status_code == 400
    fields = response.get_json()["error"]["fields"]
    assert list(fields) == [field]
    assert fields[field][0].startswith(expected)
    current = client.get(f"{API}/current", headers={"X-Registration-Token": token}).get_json()
    assert current["next_step"] == 2  # nothing saved
    assert current["last_name"] is None


def test_d_acc_3_an_omocode_codice_fiscale_is_accepted_with_the_same_personal_data(
    client: FlaskClient,
) -> None:
    omocode = "RSSMRA80A01H50MM"  # MARIO's code with its last digit replaced (omocodia)
    token = start(client, omocode)["token"]

    response = client.put(
        f"{API}/current/personal-data", json=MARIO.personal_data(), headers={"X-Registration-Token": token}
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["birth_place"] == "Roma (RM)"
    assert response.get_json()["next_step"] == 3


def test_d_acc_3_a_foreign_state_of_birth_and_accented_names_are_accepted(client: FlaskClient) -> None:
    token = start(client, ANNA.codice_fiscale)["token"]

    response = client.put(
        f"{API}/current/personal-data", json=ANNA.personal_data(), headers={"X-Registration-Token": token}
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["birth_place"] == "Germania"


def test_d_acc_3_a_step_cannot_be_skipped(client: FlaskClient) -> None:
    token = start(client, MARIO.codice_fiscale)["token"]

    response = client.put(
        f"{API}/current/contacts",
        json={"personal_email": "mario@example.it"},
        headers={"X-Registration-Token": token},
    )

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "step_not_reached"


# --- step 3, 4 -------------------------------------------------------------------------------------------


def test_d_acc_2_an_istruzione_it_email_cannot_self_register(client: FlaskClient) -> None:
    token = start(client, MARIO.codice_fiscale)["token"]
    headers = {"X-Registration-Token": token}
    client.put(f"{API}/current/personal-data", json=MARIO.personal_data(), headers=headers)

    response = client.put(
        f"{API}/current/contacts", json={"personal_email": "m.rossi@istruzione.it"}, headers=headers
    )

    assert response.status_code == 400
    assert "@istruzione.it" in response.get_json()["error"]["fields"]["personal_email"][0]


def test_d_acc_3_the_registration_resumes_from_its_cookie_and_no_account_exists_before_the_summary(
    client: FlaskClient,
) -> None:
    start(client, MARIO.codice_fiscale)  # the test client keeps the iam_registration cookie
    client.put(f"{API}/current/personal-data", json=MARIO.personal_data())
    client.put(f"{API}/current/contacts", json={"personal_email": "mario.rossi@example.it"})

    resumed = client.get(f"{API}/current")

    assert resumed.status_code == 200
    body = resumed.get_json()
    assert body["next_step"] == 4
    assert body["personal_email"] == "mario.rossi@example.it"
    assert "security_answer_hash" not in body
    assert accounts() == []
    assert events() == []


def test_an_expired_registration_is_gone(client: FlaskClient) -> None:
    token = start(client, MARIO.codice_fiscale)["token"]
    with db.transaction() as session:
        session.execute(update(Registration).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))

    response = client.get(f"{API}/current", headers={"X-Registration-Token": token})

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "registration_not_found"


# --- step 5 and the link ---------------------------------------------------------------------------------


def test_d_acc_3_confirming_the_summary_creates_an_unconfirmed_account_and_sends_the_link(
    client: FlaskClient,
) -> None:
    register_through_api(client, MARIO)

    [account] = accounts()
    assert account.state == "awaiting_confirmation"
    assert account.username is None
    assert account.security_answer_hash and "Fuffi" not in account.security_answer_hash
    [registered] = events("iam.account_registered")
    [requested] = events("iam.registration_confirmation_requested")
    assert registered["data"]["account_id"] == requested["data"]["account_id"] == str(account.id)
    assert registered["data"]["personal_email"] == "mario.rossi@example.it"
    assert requested["data"]["confirmation_url"].startswith("sealed:v1:")
    with db.transaction() as session:
        [stored] = session.scalars(select(RegistrationConfirmation.token_hash))
    assert stored != link_token(requested)  # only the hash is kept
    assert {"registration.started", "registration.submitted"} <= set(audit_actions())


def test_d_acc_3_the_link_activates_the_account_once_and_gives_the_username(client: FlaskClient) -> None:
    register_through_api(client, MARIO)
    token = link_token(events("iam.registration_confirmation_requested")[0])

    checked = client.post(f"{API}/links/check", json={"token": token})
    first = activate_through_api(client, token)
    second = activate_through_api(client, token)

    assert checked.get_json()["username"] == "mario.rossi"
    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {"username": "mario.rossi", "state": "active"}
    assert second.status_code == 400
    assert second.get_json()["error"]["code"] == "invalid_token"
    [activated] = events("iam.account_activated")
    assert activated["data"]["username"] == "mario.rossi"
    [account] = accounts()
    assert account.personal_email_verified_at is not None
    assert "registration.confirmed" in audit_actions()


def test_d_acc_3_an_expired_or_forged_link_does_not_work(client: FlaskClient) -> None:
    register_through_api(client, MARIO)
    token = link_token(events("iam.registration_confirmation_requested")[0])
    with db.transaction() as session:
        session.execute(
            update(RegistrationConfirmation).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    expired = activate_through_api(client, token)
    forged = activate_through_api(client, token[:-2] + "xx")

    assert expired.status_code == forged.status_code == 400
    assert expired.get_json() == forged.get_json()
    assert accounts()[0].state == "awaiting_confirmation"


def test_a_weak_password_is_refused_at_the_link_and_the_link_still_works(client: FlaskClient) -> None:
    register_through_api(client, MARIO)
    token = link_token(events("iam.registration_confirmation_requested")[0])

    weak = activate_through_api(client, token, "password")
    personal = activate_through_api(client, token, "io sono mario rossi davvero")
    good = activate_through_api(client, token)

    assert weak.status_code == 400
    assert "almeno 15 caratteri" in weak.get_json()["error"]["fields"]["password"][0]
    assert personal.status_code == 400
    assert "nome o cognome" in personal.get_json()["error"]["fields"]["password"][0]
    assert good.status_code == 200
    assert PASSWORD not in str(events())


def test_d_acc_2_username_collisions_get_a_numeric_suffix_and_accents_are_folded(client: FlaskClient) -> None:
    twin = type(MARIO)("Rossi", "Mario", "1981-02-03", "M", "Milano")  # another Mario Rossi
    usernames = []
    for person, email in ((MARIO, "a@example.it"), (twin, "b@example.it"), (NICCOLO, "c@example.it")):
        register_through_api(client, person, email=email)
        token = link_token(events("iam.registration_confirmation_requested")[-1])
        usernames.append(activate_through_api(client, token).get_json()["username"])

    assert usernames == ["mario.rossi", "mario.rossi1", "niccolo.damico"]


def test_d_acc_3_a_codice_fiscale_with_a_live_account_gets_the_same_answer_and_no_second_account(
    client: FlaskClient,
) -> None:
    register_through_api(client, MARIO)
    activate_through_api(client, link_token(events("iam.registration_confirmation_requested")[0]))
    first_account = accounts()[0]

    start_again = client.post(API, json={"codice_fiscale": MARIO.codice_fiscale, "captcha": captcha()})
    token = start_again.get_json()["token"]
    headers = {"X-Registration-Token": token}
    client.put(f"{API}/current/personal-data", json=MARIO.personal_data(), headers=headers)
    client.put(f"{API}/current/contacts", json={"personal_email": "intruder@example.it"}, headers=headers)
    client.put(
        f"{API}/current/security-question", json={"question": "Colore?", "answer": "rosso"}, headers=headers
    )
    submitted = client.post(f"{API}/current/submit", json={"consent": True}, headers=headers)

    assert start_again.status_code == 201
    assert submitted.status_code == 202
    assert submitted.get_json() == {"status": "submitted", "personal_email": "intruder@example.it"}
    assert [a.id for a in accounts()] == [first_account.id]
    [attempt] = events("iam.registration_attempted_for_existing_account")
    assert attempt["data"]["account_id"] == str(first_account.id)
    assert len(events("iam.registration_confirmation_requested")) == 1
    assert "registration.existing_account_attempt" in audit_actions()


def test_an_unconfirmed_account_whose_link_expired_is_replaced_by_a_new_registration(
    client: FlaskClient,
) -> None:
    register_through_api(client, MARIO, email="typo@example.it")
    with db.transaction() as session:
        session.execute(
            update(RegistrationConfirmation).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    register_through_api(client, MARIO, email="right@example.it")

    [account] = accounts()
    assert account.personal_email == "right@example.it"
    assert events("iam.registration_attempted_for_existing_account") == []


def test_submitting_without_consent_is_refused(client: FlaskClient) -> None:
    token = start(client, MARIO.codice_fiscale)["token"]
    headers = {"X-Registration-Token": token}
    client.put(f"{API}/current/personal-data", json=MARIO.personal_data(), headers=headers)
    client.put(f"{API}/current/contacts", json={"personal_email": "m@example.it"}, headers=headers)
    client.put(
        f"{API}/current/security-question", json={"question": "Colore?", "answer": "rosso"}, headers=headers
    )

    response = client.post(f"{API}/current/submit", json={"consent": False}, headers=headers)

    assert response.status_code == 400
    assert "consent" in response.get_json()["error"]["fields"]
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 0


def test_the_registration_api_is_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]

    assert "/api/iam/v1/registrations/current/personal-data" in paths
    assert "/api/iam/v1/captcha/challenge" in paths


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("last_name", "Rossi<img src=x onerror=alert(1)>"),
        ("first_name", "Mario 123"),
        ("first_name", "Mario 😀"),
        ("last_name", "-Rossi"),
        ("last_name", "R" * 101),
    ],
)
def test_d_acc_3_a_name_with_anything_but_letters_spaces_apostrophes_and_hyphens_is_refused(
    client: FlaskClient, field: str, value: str
) -> None:
    token = start(client, MARIO.codice_fiscale)["token"]

    response = client.put(
        f"{API}/current/personal-data",
        json=MARIO.personal_data(**{field: value}),
        headers={"X-Registration-Token": token},
    )

    assert response.status_code == 400
    assert list(response.get_json()["error"]["fields"]) == [field]
    current = client.get(f"{API}/current", headers={"X-Registration-Token": token}).get_json()
    assert current["next_step"] == 2 and current["last_name"] is None  # nothing saved


def test_d_acc_3_names_are_stored_normalised(client: FlaskClient) -> None:
    token = start(client, MARIO.codice_fiscale)["token"]

    response = client.put(
        f"{API}/current/personal-data",
        json=MARIO.personal_data(last_name="  Rossi ", first_name="Mario"),
        headers={"X-Registration-Token": token},
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["last_name"] == "Rossi"
