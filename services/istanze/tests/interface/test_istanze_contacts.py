"""D-IST-4 Variazione dati di recapito: phones validated (phonenumbers), the comune and province checked
against the official ISTAT list valid today, the nation against the list of states; every change kept
with its time; a wrong value changes nothing and says why next to its field, in the user's language."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest
from flask.testing import FlaskClient
from istanze.contacts import service as contacts
from istanze.extensions import db
from polis.testing.tokens import TestIssuer

USER = uuid.uuid4()
ROMA = {
    "mobile_phone": "333 123 4567",
    "home_phone": "06 1234 5678",
    "address": "Via Garibaldi 12",
    "postal_code": "00153",
    "nation": "Italia",
    "province": "rm",
    "comune": "roma",
}
TODAY = date(2027, 6, 1)


def _errors(data: dict[str, object]) -> dict[str, str]:
    _, errors = contacts.validate(data, today=TODAY)
    return {name: error.reason for name, error in errors.items()}


def test_d_ist_4_an_italian_domicile_is_cleaned_to_the_official_names_and_e164() -> None:
    cleaned, errors = contacts.validate(ROMA, today=TODAY)
    assert errors == {}
    assert cleaned["mobile_phone"] == "+393331234567" and cleaned["home_phone"] == "+390612345678"
    assert (cleaned["comune"], cleaned["province"], cleaned["comune_code"]) == ("Roma", "RM", "H501")


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"mobile_phone": "12"}, "mobile_phone", "not_a_phone"),
        ({"mobile_phone": "06 1234 5678"}, "mobile_phone", "not_a_mobile"),  # a landline is not a mobile
        ({"mobile_phone": ""}, "mobile_phone", "required"),
        ({"home_phone": "abc"}, "home_phone", "not_a_phone"),
        ({"comune": "Atlantide"}, "comune", "unknown_comune"),
        ({"comune": "Milano"}, "comune", "comune_not_in_province"),  # Milano is in MI, not RM
        ({"province": "XX"}, "province", "unknown_province"),
        ({"nation": "Narnia"}, "nation", "unknown_nation"),
        ({"postal_code": "0015"}, "postal_code", "not_a_cap"),
        ({"address": "x" * 201}, "address", "too_long"),
        ({"address": ["Via"]}, "address", "not_text"),
        ({"locality": "Parigi"}, "locality", "only_in_italy"),
        ({"is_admin": "yes"}, "is_admin", "unknown_field"),  # a tampered field
    ],
)
def test_d_ist_4_bad_contact_details_are_refused_field_by_field(
    change: dict[str, object], field: str, reason: str
) -> None:
    assert _errors({**ROMA, **change}).get(field) == reason


def test_d_ist_4_a_comune_is_checked_by_its_validity_dates() -> None:
    # Mappano (TO) was created in 2017: it exists today, not in 2016.
    mappano = {**ROMA, "province": "TO", "comune": "Mappano"}
    assert "comune" not in _errors(mappano)
    _, errors = contacts.validate(mappano, today=date(2016, 1, 1))
    assert errors["comune"].reason == "unknown_comune"


def test_d_ist_4_a_domicile_abroad_names_a_state_of_the_list_and_a_city() -> None:
    abroad = {"mobile_phone": "+33 6 12 34 56 78", "address": "12 rue de Rivoli", "nation": "France"}
    cleaned, errors = contacts.validate({**abroad, "locality": "Paris"}, today=TODAY)
    assert errors == {} and cleaned["nation"] == "Francia" and cleaned["comune"] is None
    assert _errors({**abroad, "locality": "Paris", "comune": "Roma"})["comune"] == "only_in_italy"
    assert _errors(abroad)["locality"] == "required"


def test_d_ist_4_changes_are_recorded_with_their_time(client: FlaskClient) -> None:
    first, second = datetime(2027, 6, 1, 8, tzinfo=UTC), datetime(2027, 6, 2, 9, tzinfo=UTC)
    with db.transaction() as session:
        contacts.update_contacts(session, account_id=USER, data=ROMA, now=lambda: first)
        contacts.update_contacts(
            session, account_id=USER, data={**ROMA, "mobile_phone": "347 765 4321"}, now=lambda: second
        )
        contacts.update_contacts(  # the same again: no change recorded
            session, account_id=USER, data={**ROMA, "mobile_phone": "347 765 4321"}, now=lambda: second
        )
        changes = contacts.history(session, account_id=USER)
        assert [c.before and c.before["mobile_phone"] for c in changes] == [None, "+393331234567"]
        assert changes[1].after["mobile_phone"] == "+393477654321"
        assert contacts.contacts_of(session, account_id=USER)["mobile_phone"] == "+393477654321"  # type: ignore[index]


def test_d_ist_4_the_api_refuses_bad_details_in_the_users_language_and_saves_nothing(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    headers = {
        "Authorization": f"Bearer {issuer.token(audience='urn:polis:istanze', sub=str(USER))}",
        "Accept-Language": "en",
    }
    bad = client.put(
        "/api/istanze/v1/contacts",
        headers=headers,
        data=json.dumps({**ROMA, "comune": "Atlantide"}),
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad.get_json()["error"]["fields"] == {"comune": "Comune not in the official (ISTAT) list."}
    assert client.get("/api/istanze/v1/contacts", headers=headers).get_json() == {"contacts": None}
    good = client.put(
        "/api/istanze/v1/contacts", headers=headers, data=json.dumps(ROMA), content_type="application/json"
    )
    assert good.status_code == 200 and good.get_json()["contacts"]["comune"] == "Roma"
    history = client.get("/api/istanze/v1/contacts/history", headers=headers).get_json()["changes"]
    assert len(history) == 1 and history[0]["before"] is None
