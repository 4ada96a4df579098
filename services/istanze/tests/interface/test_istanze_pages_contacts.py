"""Variazione dati di recapito as a page (issue 15 item 8, D-IST-4): the official lists offered, the server's
messages next to each field in Italian and English, nothing saved on bad input, each change recorded with
its time and shown."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from istanze.contacts import service as contacts
from istanze.extensions import db
from istanze_pages_support import Pages, body, pages_app
from polis.testing.tokens import TestIssuer

PAGE = "/istanze/recapito"
GOOD = {
    "mobile_phone": "333 123 4567",
    "home_phone": "",
    "address": "Via Roma 1",
    "postal_code": "00184",
    "nation": "Italia",
    "province": "RM",
    "comune": "Roma",
    "locality": "",
}


@pytest.fixture
def app(database_url: str, issuer: TestIssuer) -> Iterator[Flask]:
    yield from pages_app(database_url, issuer)


def _saved(user: uuid.UUID) -> dict[str, object] | None:
    with db.transaction() as session:
        return contacts.contacts_of(session, account_id=user)


def test_d_ist_4_bad_contact_details_are_refused_field_by_field_and_nothing_is_saved(
    app: Flask, issuer: TestIssuer
) -> None:
    pages = Pages(app.test_client(), issuer, uuid.uuid4())
    page = pages.text(PAGE)
    assert '<option value="Italia" selected>' in page and '<option value="RM">' in page
    assert '<label class="active" for="mobile_phone">Cellulare</label>' in page

    bad = pages.post(PAGE, {**GOOD, "mobile_phone": "12", "comune": "Milano", "postal_code": "1"})
    text = body(bad)
    assert bad.status_code == 400 and 'id="error-summary"' in text
    assert 'id="mobile_phone-error"' in text and "Numero di telefono non valido" in text
    assert "Il comune non appartiene alla provincia indicata" in text and "Il CAP è di cinque cifre" in text
    assert 'value="Via Roma 1"' in text  # what was typed stays
    assert _saved(pages.user) is None

    pages.client.set_cookie("lang", "en")
    english = body(pages.post(PAGE, {**GOOD, "nation": "Atlantide"}))
    assert "State not in the list of states." in english and "Please correct these fields" in english


def test_d_ist_4_contact_details_are_saved_and_the_change_is_shown_with_its_time(
    app: Flask, issuer: TestIssuer
) -> None:
    pages = Pages(app.test_client(), issuer, uuid.uuid4())
    saved = pages.post(PAGE, GOOD)
    assert saved.status_code == 303 and saved.headers["Location"] == PAGE + "?salvati=1"
    assert _saved(pages.user)["mobile_phone"] == "+393331234567"  # type: ignore[index]
    page = pages.text(PAGE + "?salvati=1")
    assert "Dati di recapito salvati" in page and 'value="+393331234567"' in page
    assert "Variazione del 20 ottobre 2027, 10:00 (ora italiana)" in page  # the pages' clock, in Rome
