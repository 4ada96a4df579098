"""Istanze OnLine's pages as the gateway forwards them (issue 15 items 2, 3, 7, 9): the personal home, the
form rendered from its definition and saved section by section, the summary and the submission with the
personal code, withdrawal and resubmission, and the read-only application after the deadline. Rules:
D-IST-1 (windows in Italian time), D-IST-2 (drafts, personal code), D-IST-3 (protocol, receipt, withdraw),
D-IST-6 (category, deadline by the server's clock, one submission per click)."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from istanze.applications import completion
from istanze.applications.views import CHECKER
from istanze.extensions import db
from istanze.pages.common import CLOCK
from istanze_pages_support import (
    CLOSED,
    CODE,
    DATI,
    KEY,
    LAST_SECOND,
    LOCKED,
    SEDI,
    TEMPORARY,
    Pages,
    application_state,
    body,
    declare,
    define_procedure,
    pages_app,
)
from polis.testing.tokens import TestIssuer

FORM = "/istanze/procedure/modello-d3"
SUMMARY = FORM + "/riepilogo"


@pytest.fixture
def app(database_url: str, issuer: TestIssuer) -> Iterator[Flask]:
    yield from pages_app(database_url, issuer)


def _send(pages: Pages, personal_code: str, key: str):  # type: ignore[no-untyped-def]
    """ "Inoltra" on the summary page, with the personal code typed and the page's idempotency key."""
    return pages.post(FORM + "/inoltro", {"personal_code": personal_code, "key": key}, page=SUMMARY)


def _user(app: Flask, issuer: TestIssuer, category: str | None = "ata") -> Pages:
    user = uuid.uuid4()
    if category:
        declare(user, category)
    return Pages(app.test_client(), issuer, user)


def test_without_a_session_the_pages_send_to_login(app: Flask) -> None:
    response = app.test_client().get("/istanze/")
    assert response.status_code == 303 and response.headers["Location"] == "/accedi?next=/istanze/"


def test_d_ist_6_the_home_declares_the_category_and_lists_its_procedures_with_the_window(
    app: Flask, issuer: TestIssuer
) -> None:
    define_procedure()
    define_procedure("mobilita-docenti", ("docenti",))
    pages = _user(app, issuer, category=None)
    home = pages.text("/istanze/")
    assert "Non hai ancora dichiarato" in home and "modello-d3" not in home
    assert "<!--polis:account-->" in home  # the gateway fills the header with the signed-in user
    assert 'href="/abilitazione/servizio"' in home and 'href="/istanze/recapito"' in home

    refused = pages.post("/istanze/categoria", {"staff_category": "astronauti"}, page="/istanze/")
    text = body(refused)
    assert (
        refused.status_code == 400 and 'aria-invalid="true"' in text and "Scegli una delle categorie" in text
    )

    saved = pages.post("/istanze/categoria", {"staff_category": "ata"}, page="/istanze/")
    assert saved.status_code == 303
    home = pages.text("/istanze/")
    assert "Categoria dichiarata: Personale ATA" in home
    assert 'id="procedure-modello-d3"' in home and "mobilita-docenti" not in home
    # D-IST-1: the window in Italian time (14:00 in Rome is 13:00 UTC on 31 October 2027), and time left.
    assert "Dal 1 ottobre 2027, 09:00 al 31 ottobre 2027, 14:00 (ora italiana)" in home
    assert "tempo rimasto: 11 giorni e 5 ore" in home and "Non compilata" in home

    pages.client.set_cookie("lang", "en")
    english = pages.text("/istanze/")
    assert "From 1 October 2027, 09:00 to 31 October 2027, 14:00 (Italian time)" in english
    assert "time left: 11 days and 5 hours" in english and "Form D3" in english


def test_d_ist_2_the_form_is_rendered_from_its_definition_with_errors_next_to_each_field(
    app: Flask, issuer: TestIssuer
) -> None:
    define_procedure()
    pages = _user(app, issuer)
    page = pages.text(FORM)
    for label in ("Qualifica", "Anni di servizio", "Data di nomina", "Profilo", "Assistente amministrativo"):
        assert label in page
    assert '<label class="active" for="qualifica">' in page and 'type="date"' in page

    bad = pages.post(
        FORM + "/sezione/dati",
        {"qualifica": "x" * 41, "anni": "dodici", "nomina": "31/02/2015", "profilo": "zz", "intruso": "1"},
        page=FORM,
    )
    text = body(bad)
    assert bad.status_code == 400 and 'id="error-summary"' in text
    assert text.count('aria-invalid="true"') == 4
    for message in ("massimo 40 caratteri", "Inserire un numero", "AAAA-MM-GG", "Scegliere una delle voci"):
        assert message in text
    assert 'href="#anni"' in text and 'id="anni-error"' in text
    assert application_state(pages.user) is None  # nothing half-saved

    pages.client.set_cookie("lang", "en")
    english = body(pages.post(FORM + "/sezione/dati", {"anni": "-1"}, page=FORM))
    assert "Value out of the allowed range." in english and "This field is required." in english
    pages.client.delete_cookie("lang")


def test_d_ist_2_schools_declarations_and_attachments_are_checked_by_the_server(
    app: Flask, issuer: TestIssuer
) -> None:
    define_procedure()
    pages = _user(app, issuer)
    assert pages.post(FORM + "/sezione/dati", DATI, page=FORM).status_code == 303
    section = FORM + "?sezione=sedi"
    page = pages.text(section)
    assert (
        'name="schools-1"' in page and "Liceo scientifico Galileo Galilei" in page and "DPR 445/2000" in page
    )
    unknown = pages.post(FORM + "/sezione/sedi", {"schools-1": "XXXX00000X", "dpr445": "on"}, page=section)
    assert unknown.status_code == 400 and "Sede non presente nell'elenco" in body(unknown)
    repeated = pages.post(
        FORM + "/sezione/sedi", {"schools-1": "RMIC8AB00X", "schools-2": "RMIC8AB00X"}, page=section
    )
    text = body(repeated)
    assert "Sede indicata più volte" in text and "La dichiarazione va confermata" in text
    assert 'href="#schools-1"' in text  # the summary leads to the list's first choice
    not_pdf = pages.post(
        FORM + "/sezione/sedi",
        {**SEDI, "allegato": (io.BytesIO(b"GIF89a not a pdf"), "foto.pdf")},
        page=section,
        content_type="multipart/form-data",
    )
    assert not_pdf.status_code == 400 and "deve essere un PDF" in body(not_pdf)
    too_large = pages.post(
        FORM + "/sezione/sedi",
        {**SEDI, "allegato": (io.BytesIO(b"%PDF-1.7" + b"x" * 2000), "grande.pdf")},
        page=section,
        content_type="multipart/form-data",
    )
    assert too_large.status_code == 400 and "File troppo grande" in body(too_large)
    assert application_state(pages.user) == ("bozza", None)
    pdf = pages.post(
        FORM + "/sezione/sedi",
        {**SEDI, "allegato": (io.BytesIO(b"%PDF-1.7 servizio"), "servizio.pdf")},
        page=section,
        content_type="multipart/form-data",
    )
    assert pdf.status_code == 303
    kept = pages.post(FORM + "/sezione/sedi", SEDI, page=section)  # no new file: the one attached stays
    assert kept.status_code == 303
    summary = pages.text(FORM + "/riepilogo")
    assert "servizio.pdf (PDF, 1 KB)" in summary and "2. Istituto di istruzione superiore Leonardo" in summary


def test_d_ist_2_3_draft_resumed_submitted_once_withdrawn_resubmitted_and_read_only_after_the_deadline(
    app: Flask, issuer: TestIssuer
) -> None:
    define_procedure()
    pages = _user(app, issuer)
    saved = pages.post(FORM + "/sezione/dati", DATI, page=FORM)
    assert saved.status_code == 303 and saved.headers["Location"].endswith("?sezione=sedi&salvata=1")

    # Resumed from another device: a new client, the same user, the answers are there.
    other = Pages(app.test_client(), issuer, pages.user)
    resumed = other.text(FORM + "?sezione=dati")
    assert 'value="Assistente"' in resumed and 'value="2015-09-01"' in resumed
    done = other.post(FORM + "/sezione/sedi", SEDI, page=FORM + "?sezione=sedi")
    assert done.status_code == 303 and done.headers["Location"].endswith("/riepilogo")

    summary = pages.text(SUMMARY)
    assert "Istituto comprensivo Via Roma" in summary and "Collaboratore" not in summary
    assert "Assistente amministrativo" in summary and 'name="personal_code"' in summary
    key = KEY.search(summary).group(1)  # type: ignore[union-attr]

    wrong = _send(pages, "Sbagliato1", key)
    text = body(wrong)
    assert wrong.status_code == 400 and "Il codice personale non è corretto" in text
    assert 'id="personal_code-error"' in text and application_state(pages.user) == ("bozza", None)

    app.extensions[CLOCK].now = LAST_SECOND  # D-IST-6: 13:59:59 in Rome is still inside the window
    checker = app.extensions[CHECKER]
    calls = checker.calls
    first = _send(pages, CODE, key)
    assert first.status_code == 303 and first.headers["Location"].endswith("?esito=inoltrata")
    again = _send(pages, CODE, key)  # the double click: the same key
    assert again.status_code == 303 and checker.calls == calls + 1
    state, number = application_state(pages.user)  # type: ignore[misc]
    assert state == "inoltrata" and number == 1

    done_page = pages.text(SUMMARY + "?esito=inoltrata")
    assert "Domanda inoltrata con il numero di protocollo 0000001" in done_page
    assert 'id="withdraw-link"' in done_page
    receipt = re.search(r'href="(/istanze/archivio/[^"]+)" id="receipt-link"', done_page).group(1)  # type: ignore[union-attr]
    pdf = pages.get(receipt)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
    home = pages.text("/istanze/")
    assert "0000001" in home and receipt in home and "Inoltrata" in home
    stranger = Pages(app.test_client(), issuer, uuid.uuid4())
    assert stranger.get(receipt).status_code == 404  # another user's receipt

    confirm = pages.text(FORM + "/annulla")
    assert "Vuoi annullare l'inoltro della domanda con protocollo 0000001" in confirm
    withdrawn = pages.post(FORM + "/annulla", {"confirm": "y"}, page=FORM + "/annulla")
    assert withdrawn.status_code == 303 and application_state(pages.user) == ("bozza", None)
    after = pages.text(SUMMARY + "?esito=annullata")
    assert "Inoltro annullato" in after and "Annullata (inoltro annullato)" in after
    assert "Protocollo 0000001" in after

    key = KEY.search(after).group(1)  # type: ignore[union-attr]
    resubmitted = _send(pages, CODE, key)
    assert resubmitted.status_code == 303 and application_state(pages.user) == ("inoltrata", 2)
    archive = pages.text("/istanze/")
    assert "0000001" in archive and "0000002" in archive and "Annullata" in archive

    app.extensions[CLOCK].now = CLOSED  # 14:00:00 in Rome: the deadline has passed
    closed = pages.text(SUMMARY)
    assert "Il termine è scaduto il 31 ottobre 2027, 14:00 (ora italiana)" in closed
    assert 'id="withdraw-link"' not in closed and 'name="personal_code"' not in closed
    late = pages.post(FORM + "/annulla", {"confirm": "y"}, page=SUMMARY)
    assert late.status_code == 403 and application_state(pages.user) == ("inoltrata", 2)
    assert pages.get(FORM).status_code == 303  # the form is not offered: read-only summary


def test_d_ist_6_closed_window_category_and_not_enabled(app: Flask, issuer: TestIssuer) -> None:
    define_procedure()
    teacher = _user(app, issuer, category="docenti")
    refused = teacher.get(FORM)
    assert refused.status_code == 403
    assert "non è rivolta alla categoria" in body(refused)
    assert teacher.client.post(FORM + "/sezione/dati", data=DATI, headers=teacher.headers).status_code == 400

    pages = _user(app, issuer)
    pages.post(FORM + "/sezione/dati", DATI, page=FORM)
    pages.post(FORM + "/sezione/sedi", SEDI, page=FORM + "?sezione=sedi")
    app.extensions[CHECKER].not_enabled.add(pages.user)
    summary = pages.text(SUMMARY)
    key = KEY.search(summary).group(1)  # type: ignore[union-attr]
    sent = _send(pages, CODE, key)
    assert sent.status_code == 303 and sent.headers["Location"] == "/abilitazione/"
    assert application_state(pages.user) == ("bozza", None)

    app.extensions[CLOCK].now = CLOSED
    late = _send(pages, CODE, key)
    text = body(late)
    assert late.status_code == 403 and "Il termine per l'inoltro è scaduto" in text
    assert "31 ottobre 2027, 14:00 (ora italiana)" in text
    assert application_state(pages.user) == ("bozza", None)
    assert pages.get("/istanze/procedure/sconosciuta").status_code == 404


def test_d_ist_2_enablements_throttling_and_mandatory_change_are_said_and_the_draft_is_kept(
    app: Flask, issuer: TestIssuer
) -> None:
    define_procedure()
    pages = _user(app, issuer)
    pages.post(FORM + "/sezione/dati", DATI, page=FORM)
    pages.post(FORM + "/sezione/sedi", SEDI, page=FORM + "?sezione=sedi")
    key = KEY.search(pages.text(SUMMARY)).group(1)  # type: ignore[union-attr]
    locked = _send(pages, LOCKED, key)
    assert locked.status_code == 429 and "riprova tra 60 secondi" in body(locked)
    temporary = _send(pages, TEMPORARY, key)
    assert temporary.status_code == 303 and temporary.headers["Location"] == "/abilitazione/cambia-codice"
    empty = _send(pages, "", key)
    assert empty.status_code == 400 and "Scrivi il tuo codice personale" in body(empty)
    tampered = _send(pages, CODE, "short")  # the page's key altered
    assert tampered.status_code == 400 and "La pagina non è valida" in body(tampered)
    assert application_state(pages.user) == ("bozza", None)


def test_d_ist_3_a_registered_submission_whose_receipt_is_pending_is_shown_as_protocollata_until_filed(
    app: Flask, issuer: TestIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receipt's render failed after the number was committed (issue 15 P6, the two steps): the user
    sees the number and "ricevuta in preparazione", no receipt link and no error; the sweep files it."""
    define_procedure()
    pages = _user(app, issuer)
    pages.post(FORM + "/sezione/dati", DATI, page=FORM)
    pages.post(FORM + "/sezione/sedi", SEDI, page=FORM + "?sezione=sedi")
    key = KEY.search(pages.text(SUMMARY)).group(1)  # type: ignore[union-attr]

    def broken(data: object) -> tuple[bytes, str]:
        raise RuntimeError("renderer out of memory")

    monkeypatch.setattr(completion, "render_receipt", broken)
    sent = _send(pages, CODE, key)
    assert sent.status_code == 303 and "Traceback" not in body(sent)
    assert application_state(pages.user) == ("protocollata", 1)

    summary = pages.text(sent.headers["Location"].removeprefix("http://localhost"))
    assert "Stato della domanda: Protocollata, ricevuta in preparazione" in summary
    assert "Domanda protocollata con il numero 0000001. La ricevuta è in preparazione" in summary
    assert 'id="protocol-number">0000001<' in summary and 'id="receipt-link"' not in summary
    assert "Domanda inoltrata con il numero" not in summary
    home = pages.text("/istanze/")
    assert "0000001" in home and "Protocollata, ricevuta in preparazione" in home
    again = _send(pages, CODE, key)  # the same click again: no second number
    assert again.status_code == 303 and application_state(pages.user) == ("protocollata", 1)

    monkeypatch.undo()
    later = app.extensions[CLOCK].now + timedelta(minutes=5)
    assert completion.sweep(db, registered_before=later) == 1
    assert application_state(pages.user) == ("inoltrata", 1)
    filed = pages.text(SUMMARY)
    assert "Stato della domanda: Inoltrata" in filed and 'id="receipt-link"' in filed
    assert "ricevuta in preparazione" not in pages.text("/istanze/")
