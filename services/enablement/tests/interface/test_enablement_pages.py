"""The enablement pages as the gateway forwards them (the session's token as Authorization): the D-ENA-1
entry, the request form with inline errors in Italian and English, the forced change (D-ENA-4), the
operator console (D-ENA-3), the receipt page; nothing changes on bad input."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

from flask.testing import FlaskClient
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, Opener
from polis.testing.token_contract import bearer
from polis.testing.tokens import TestIssuer
from test_enablement_flow import (
    AUDIENCE,
    CF,
    _assign,
    _events,
    _offices,
    _register,
)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
OPENER = Opener({DEV_KEY_ID: DEV_PRIVATE_KEY})


def _token(client: FlaskClient, path: str, headers: dict[str, str]) -> str:
    page = client.get(path, headers=headers)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    return CSRF.search(page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]


def test_without_a_session_the_entry_sends_to_login(app: Any) -> None:
    """D-ENA-1: not logged in -> the login page, coming back here."""
    response = app.test_client().get("/abilitazione/")
    assert response.status_code == 303 and response.headers["Location"] == "/accedi?next=/abilitazione/"


def test_the_entry_leads_through_the_procedure(app: Any, issuer: TestIssuer) -> None:
    """D-ENA-1, D-ENA-2, D-ENA-4: not enabled -> the request form; pending -> the instructions and the form;
    temporary code in place -> the mandatory change first."""
    client = app.test_client()
    office_a, _ = _offices()
    user, operator = _register("mario.rossi"), uuid.uuid4()
    _assign(operator, "RMIC8AB00X")
    headers = bearer(issuer.token(audience=AUDIENCE, sub=str(user)))
    page = client.get("/abilitazione/", headers=headers).get_data(as_text=True)
    assert "Abilitazione a Istanze OnLine" in page and "mario.rossi@example.it" in page

    token = _token(client, "/abilitazione/", headers)
    bad = client.post(
        "/abilitazione/richiesta", data={"codice_fiscale": "abc", "csrf_token": token}, headers=headers
    )
    text = bad.get_data(as_text=True)
    assert (
        bad.status_code == 400
        and "Il codice fiscale ha 16 caratteri" in text
        and "Conferma che i dati" in text
    )
    assert 'aria-invalid="true"' in text and _events("enablement.requested") == []
    client.set_cookie("lang", "en")
    english = client.post(
        "/abilitazione/richiesta", data={"codice_fiscale": "abc", "csrf_token": token}, headers=headers
    )
    client.delete_cookie("lang")
    assert "The codice fiscale has 16 characters" in english.get_data(as_text=True)
    assert "Please correct these fields" in english.get_data(as_text=True)
    forged = client.post(
        "/abilitazione/richiesta", data={"codice_fiscale": CF, "data_confirmed": "y"}, headers=headers
    )
    assert forged.status_code == 400 and _events("enablement.requested") == []

    done = client.post(
        "/abilitazione/richiesta",
        data={"codice_fiscale": CF, "data_confirmed": "y", "csrf_token": token},
        headers=headers,
    )
    assert done.status_code == 303
    pending = client.get("/abilitazione/", headers=headers).get_data(as_text=True)
    number = re.search(r'id="request-number">([^<]+)<', pending).group(1)  # type: ignore[union-attr]
    assert client.get("/abilitazione/modulo.pdf", headers=headers).mimetype == "application/pdf"

    operator_headers = bearer(issuer.token(audience=AUDIENCE, sub=str(operator), roles=["user", "operator"]))
    console = client.get(f"/abilitazione/operatore?q={number}", headers=operator_headers)
    assert console.status_code == 200 and CF in console.get_data(as_text=True)
    missing = client.get("/abilitazione/operatore?q=ENA-ZZZZ-ZZZZ", headers=operator_headers)
    assert missing.status_code == 404 and "Nessuna richiesta in attesa corrisponde" in missing.get_data(
        as_text=True
    )
    assert client.get("/abilitazione/operatore", headers=headers).status_code == 403
    request_id = re.search(
        r"/abilitazione/operatore/richieste/([0-9a-f-]+)", console.get_data(as_text=True)
    ).group(1)  # type: ignore[union-attr]
    token = CSRF.search(console.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    form = {
        "csrf_token": token,
        "number": number,
        "office_id": str(office_a),
        "document_type": "passaporto",
        "document_number": "YA1234567",
        "document_issuer": "Questura di Roma",
        "document_issued_on": (date.today() - timedelta(days=100)).isoformat(),
        "document_expires_on": (date.today() - timedelta(days=1)).isoformat(),
        "form_signed": "y",
        "outcome": "confirm",
    }
    expired = client.post(
        f"/abilitazione/operatore/richieste/{request_id}", data=form, headers=operator_headers
    )
    assert expired.status_code == 400 and "Il documento è scaduto" in expired.get_data(as_text=True)
    form["document_expires_on"] = (date.today() + timedelta(days=1000)).isoformat()
    confirmed = client.post(
        f"/abilitazione/operatore/richieste/{request_id}", data=form, headers=operator_headers
    )
    assert confirmed.status_code == 200 and "Abilitazione confermata" in confirmed.get_data(as_text=True)

    forced = client.get("/abilitazione/", headers=headers)
    assert forced.status_code == 303 and forced.headers["Location"] == "/abilitazione/cambia-codice"
    temporary = OPENER.open(_events("enablement.requested")[-1]["temporary_personal_code"])
    token = _token(client, "/abilitazione/cambia-codice", headers)
    short = client.post(
        "/abilitazione/cambia-codice",
        data={"csrf_token": token, "current_code": temporary, "new_code": "abc1", "new_code_again": "abc1"},
        headers=headers,
    )
    assert short.status_code == 400 and "almeno 8 caratteri" in short.get_data(as_text=True)
    changed = client.post(
        "/abilitazione/cambia-codice",
        data={
            "csrf_token": token,
            "current_code": temporary,
            "new_code": "Girasole42",
            "new_code_again": "Girasole42",
        },
        headers=headers,
    )
    assert changed.status_code == 200 and 'id="changed"' in changed.get_data(as_text=True)
    enabled = client.get("/abilitazione/", headers=headers)
    assert enabled.status_code == 303 and enabled.headers["Location"] == "/istanze/"


def test_the_receipt_page_confirms_once(app: Any, issuer: TestIssuer) -> None:
    """D-ENA-2: the link's page asks for a click (a mail scanner's GET changes nothing); a reused or forged
    link says so."""
    client = app.test_client()
    _offices()
    user = _register("mario.rossi")
    headers = bearer(issuer.token(audience=AUDIENCE, sub=str(user)))
    token = _token(client, "/abilitazione/", headers)
    client.post(
        "/abilitazione/richiesta",
        data={"codice_fiscale": CF, "data_confirmed": "y", "csrf_token": token},
        headers=headers,
    )
    link = OPENER.open(_events("enablement.requested")[-1]["receipt_confirmation_url"])
    receipt = link.split("token=", 1)[1]
    page = client.get(f"/abilitazione/ricevuta?token={receipt}")
    assert page.status_code == 200 and "Confermo la ricezione" in page.get_data(as_text=True)
    csrf = CSRF.search(page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    assert (
        client.post("/abilitazione/ricevuta", data={"token": receipt, "csrf_token": csrf}).status_code == 200
    )
    again = client.post("/abilitazione/ricevuta", data={"token": receipt, "csrf_token": csrf})
    assert again.status_code == 400 and "già usato" in again.get_data(as_text=True)
