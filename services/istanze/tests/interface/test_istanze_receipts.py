"""D-IST-3 / D-IST-6: the receipt of a submission is a PDF/A-2b document with the answers, the protocol
number, the segnatura and the time in Italian time; its SHA-256 is recorded with the number; it is filed
in the user's archive (listed and downloaded any time) and attached to istanze.istanza_submitted; a withdrawal
marks it "annullata", emits istanze.istanza_withdrawn, and a resubmission gets the next number; after the
deadline nothing can be saved, submitted or withdrawn (the window said in Italian time)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pypdf
import pytest
from flask.testing import FlaskClient
from istanze.applications import service
from istanze.applications.withdrawal import withdraw
from istanze.extensions import db
from istanze.models import outbox
from istanze.receipts import service as receipts
from istanze_backend_support import ROME_CONTACTS, open_d3_draft, publish_procedure, submit_d3
from polis.events import Event, contracts
from polis.testing.tokens import TestIssuer
from sqlalchemy import select

FORM = {
    "sections": [
        {
            "id": "sedi",
            "title_it": "Scelta delle sedi",
            "fields": [
                {"name": "schools", "type": "schools", "max_items": 3, "required": True, "label_it": "Sedi"},
                {"name": "note", "type": "text", "max_length": 80, "label_it": "Note"},
                {"name": "dpr445", "type": "declaration", "required": True, "label_it": "Dichiarazione"},
            ],
        }
    ]
}
SAVED_AT = datetime(2027, 10, 2, 8, 0, tzinfo=UTC)
SUBMITTED_AT = datetime(2027, 10, 31, 12, 59, 59, tzinfo=UTC)  # 13:59:59 in Rome, the autumn DST Sunday
CLOSING = datetime(2027, 10, 31, 13, 0, 0, tzinfo=UTC)  # 14:00:00 in Rome: closed
USER = uuid.uuid4()
AUDIENCE = "urn:polis:istanze"


@pytest.fixture
def draft(client: FlaskClient) -> FlaskClient:
    with db.transaction() as session:
        open_d3_draft(
            session,
            account_id=USER,
            title_it="Modello D3 – scelta delle sedi",  # noqa: RUF001
            opens_local=datetime(2027, 10, 1, 9, 0),
            closes_local=datetime(2027, 10, 31, 14, 0),
            form=FORM,
            contacts=ROME_CONTACTS,
            answers={"schools": ["RMPS01000A", "RMIC8AB00X"], "note": "Però è così", "dpr445": "on"},
            saved_at=SAVED_AT,
        )
    return client


def _submit(key: str = "click-1", at: datetime = SUBMITTED_AT) -> uuid.UUID:
    return submit_d3(account_id=USER, key=key, arrived_at=at, applicant="Lucia Verdi").application.id


def _events(kind: str) -> list[Event]:
    with db.transaction() as session:
        rows = session.execute(
            select(outbox.c.payload).where(outbox.c.event_type == kind).order_by(outbox.c.id)
        ).scalars()
        return [Event.from_json(payload.encode()) for payload in rows]


def test_d_ist_3_the_receipt_is_pdf_a_with_answers_number_segnatura_and_italian_time(
    draft: FlaskClient,
) -> None:
    application_id = _submit()
    with db.transaction() as session:
        [entry] = receipts.archive_of(session, account_id=USER)
        receipt = receipts.receipt_of(session, account_id=USER, receipt_id=entry.id)
        assert receipt is not None
        content, digest = receipt.content, receipt.sha256
        assert (receipt.application_id, receipt.protocol_year, receipt.number_text) == (
            application_id,
            2027,
            "0000001",
        )
    assert hashlib.sha256(content).hexdigest() == digest  # D-IST-6: the fingerprint recorded with the number
    pdf = pypdf.PdfReader(io.BytesIO(content))
    text = " ".join(page.extract_text() for page in pdf.pages)
    for expected in (
        "0000001",
        "m_pi.AOODGPER.REGISTRO UFFICIALE.U.0000001.31/10/2027",
        "31/10/2027 13:59:59",  # Italian time (UTC+1 after the autumn change)
        "Modello D3",
        "RMPS01000A",
        "Liceo scientifico Galileo Galilei",
        "Però è così",
        "Lucia Verdi",
        "+393331234567",
        "Via Garibaldi 12",
    ):
        assert expected in text, expected
    xmp = pdf.xmp_metadata
    assert xmp is not None
    assert (xmp.pdfaid_part, xmp.pdfaid_conformance) == ("2", "B")  # PDF/A-2b
    root = pdf.trailer["/Root"]
    [intent] = root["/OutputIntents"]
    assert (
        intent["/S"] == "/GTS_PDFA1"
        and intent["/DestOutputProfile"].get_object().get_data()[36:40] == b"acsp"
    )
    fonts = pdf.pages[0]["/Resources"]["/Font"]
    for ref in fonts.values():
        descendant = ref.get_object()["/DescendantFonts"][0].get_object()
        assert "/FontFile2" in descendant["/FontDescriptor"]  # every font embedded


def test_d_ist_3_the_archive_lists_and_downloads_the_receipt_through_the_api(
    draft: FlaskClient, issuer: TestIssuer
) -> None:
    _submit()
    headers = {"Authorization": f"Bearer {issuer.token(audience=AUDIENCE, sub=str(USER))}"}
    listed = draft.get("/api/istanze/v1/archive", headers=headers)
    assert listed.status_code == 200
    [entry] = listed.get_json()["receipts"]
    assert (entry["protocol_number"], entry["state"]) == ("0000001", "inoltrata")
    pdf = draft.get(f"/api/istanze/v1/archive/{entry['id']}/receipt.pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert hashlib.sha256(pdf.data).hexdigest() == entry["sha256"]
    other = {"Authorization": f"Bearer {issuer.token(audience=AUDIENCE, sub=str(uuid.uuid4()))}"}
    assert draft.get(f"/api/istanze/v1/archive/{entry['id']}/receipt.pdf", headers=other).status_code == 404


def test_d_ist_3_istanza_submitted_carries_the_receipt_as_the_contract_says(draft: FlaskClient) -> None:
    application_id = _submit()
    _submit()  # the same click again: no second event
    [event] = _events("istanze.istanza_submitted")
    contracts.validate(event)
    assert event.data["istanza_id"] == str(application_id)
    assert event.data["protocol_number"] == "0000001"
    attached = base64.b64decode(event.data["receipt"]["content_base64"])
    with db.transaction() as session:
        [entry] = receipts.archive_of(session, account_id=USER)
        assert hashlib.sha256(attached).hexdigest() == entry.sha256
    assert event.data["receipt"]["filename"] == "ricevuta-2027-0000001.pdf"


def test_d_ist_3_withdraw_then_resubmit_new_number_and_the_withdrawn_receipt_stays_marked(
    draft: FlaskClient,
) -> None:
    _submit()
    with db.transaction() as session:
        withdraw(session, account_id=USER, code="modello-d3", arrived_at=SUBMITTED_AT)
    [withdrawn] = _events("istanze.istanza_withdrawn")
    contracts.validate(withdrawn)
    assert withdrawn.data["protocol_number"] == "0000001"
    _submit(key="click-2")
    with db.transaction() as session:
        entries = receipts.archive_of(session, account_id=USER)
        states = sorted((r.number_text, receipts.receipt_json(r)["state"]) for r in entries)
    assert states == [("0000001", "annullata"), ("0000002", "inoltrata")]
    assert len(_events("istanze.istanza_submitted")) == 2


def test_d_ist_6_after_the_deadline_nothing_is_saved_submitted_or_withdrawn_and_the_window_is_said(
    draft: FlaskClient,
) -> None:
    _submit()
    with pytest.raises(service.NotAllowed) as late_withdrawal, db.transaction() as session:
        withdraw(session, account_id=USER, code="modello-d3", arrived_at=CLOSING)
    refusal = late_withdrawal.value
    assert refusal.reason == "window_closed"
    assert "dal 01/10/2027 09:00 al 31/10/2027 14:00 (ora italiana)" in refusal.message("it")
    assert "from 01/10/2027 09:00 to 31/10/2027 14:00 (Italian time)" in refusal.message("en")
    with pytest.raises(service.NotAllowed), db.transaction() as session:
        service.save_section(
            session,
            account_id=USER,
            code="modello-d3",
            section="sedi",
            answers={"schools": ["RMPS01000A"], "dpr445": "on"},
            now=lambda: CLOSING,
        )
    with db.transaction() as session:
        [entry] = receipts.archive_of(session, account_id=USER)
        assert entry.withdrawn_at is None
    assert _events("istanze.istanza_withdrawn") == []


def test_d_ist_6_the_api_refusal_after_the_deadline_names_the_window_in_the_users_language(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    with db.transaction() as session:
        publish_procedure(
            session,
            code="mobilita",
            staff_categories=["docenti"],
            opens_local=datetime(2020, 3, 28, 9, 0),
            closes_local=datetime(2020, 4, 21, 14, 0),
            form=FORM,
        )
        service.declare_category(session, account_id=USER, staff_category="docenti")
    headers = {
        "Authorization": f"Bearer {issuer.token(audience=AUDIENCE, sub=str(USER))}",
        "Accept-Language": "it",
    }
    answer = client.put(
        "/api/istanze/v1/applications/mobilita/sections/sedi",
        headers=headers,
        data=json.dumps({"schools": ["RMPS01000A"], "dpr445": "on"}),
        content_type="application/json",
    )
    assert answer.status_code == 403
    body = answer.get_json()["error"]
    assert body["code"] == "window_closed"
    assert "dal 28/03/2020 09:00 al 21/04/2020 14:00 (ora italiana)" in body["message"]
    with db.transaction() as session:
        assert service.application_of(session, account_id=USER, code="mobilita") is None


ATTACHMENT_FORM = {
    "sections": [
        {
            "id": "allegati",
            "fields": [
                {"name": "note", "type": "text", "max_length": 10, "label_it": "Note"},
                {"name": "titolo", "type": "attachment", "max_bytes": 64, "label_it": "Titolo di studio"},
            ],
        }
    ]
}


def test_bad_input_attachments_and_long_text_through_the_api_change_nothing(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    with db.transaction() as session:
        publish_procedure(
            session,
            code="con-allegati",
            opens_local=datetime(2020, 1, 1, 9, 0),
            closes_local=datetime(2099, 1, 1, 9, 0),
            form=ATTACHMENT_FORM,
        )
        service.declare_category(session, account_id=USER, staff_category="ata")
    headers = {
        "Authorization": f"Bearer {issuer.token(audience=AUDIENCE, sub=str(USER))}",
        "Accept-Language": "it",
    }
    url = "/api/istanze/v1/applications/con-allegati/sections/allegati"

    def put(answers: dict[str, Any]) -> Any:
        return client.put(url, headers=headers, data=json.dumps(answers), content_type="application/json")

    def file(content: bytes) -> dict[str, str]:
        return {"filename": "titolo di studio.pdf", "content_base64": base64.b64encode(content).decode()}

    cases = [
        ({"titolo": file(b"GIF89a not a pdf")}, "titolo", "Il file allegato deve essere un PDF."),
        ({"titolo": file(b"%PDF-1.7" + b"x" * 100)}, "titolo", "File troppo grande (massimo 64 byte)."),
        ({"titolo": {"filename": "a.pdf", "content_base64": "%%%"}}, "titolo", "Allegato non leggibile."),
        ({"note": "x" * 11}, "note", "Testo troppo lungo (massimo 10 caratteri)."),
        ({"note": {"nested": 1}}, "note", "Valore non valido."),
    ]
    for answers, field, message in cases:
        answer = put(answers)
        assert answer.status_code == 400, answers
        assert answer.get_json()["error"]["fields"][field] == message
    with db.transaction() as session:
        assert (
            service.application_of(session, account_id=USER, code="con-allegati") is None
        )  # nothing half-saved
    good = put({"note": "ok", "titolo": file(b"%PDF-1.7 ok")})
    assert good.status_code == 200
    stored = good.get_json()["answers"]["allegati"]["titolo"]
    assert (stored["filename"], stored["size"]) == ("titolo_di_studio.pdf", len(b"%PDF-1.7 ok"))
