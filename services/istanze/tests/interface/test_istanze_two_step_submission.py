"""D-IST-3 / D-IST-6, issue 15 P6: a submission in two transactions. The first registers it (the protocol
number taken last, the application "protocollata", its protocol register row with the receipt pending);
the receipt is rendered outside any transaction; the second files it with its SHA-256, the
istanze.istanza_submitted event and the state "inoltrata", once. A crash between the two leaves a
registered submission that the worker's sweep completes: one receipt, one event (one email), the same
number; meanwhile the user sees it "protocollata" with the receipt "in_preparazione", not an error."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pypdf
import pytest
from flask.testing import FlaskClient
from istanze.applications import completion, service
from istanze.applications import submission as submission_module
from istanze.applications.models import Application
from istanze.applications.withdrawal import withdraw
from istanze.extensions import db
from istanze.models import outbox
from istanze.protocol.models import ProtocolCounter
from istanze.protocol.service import last_number
from istanze.receipts import service as receipts
from istanze.receipts.models import Receipt
from istanze.worker import receipt_sweep_loop
from istanze_backend_support import ROME_CONTACTS, open_d3_draft, submit_d3
from polis.events import Event, contracts
from polis.testing.helpers import wait_until
from polis.testing.tokens import TestIssuer
from sqlalchemy import select

FORM = {
    "sections": [
        {
            "id": "sedi",
            "title_it": "Scelta delle sedi",
            "fields": [
                {"name": "schools", "type": "schools", "max_items": 3, "required": True, "label_it": "Sedi"},
                {"name": "dpr445", "type": "declaration", "required": True, "label_it": "Dichiarazione"},
            ],
        }
    ]
}
SAVED_AT = datetime(2027, 10, 2, 8, 0, tzinfo=UTC)
SUBMITTED_AT = datetime(2027, 10, 31, 12, 59, 59, tzinfo=UTC)  # 13:59:59 in Rome, the autumn DST Sunday
USER = uuid.uuid4()
AUDIENCE = "urn:polis:istanze"


class Crash(BaseException):
    """The process dying between the two transactions (not an Exception: nothing in the code catches it)."""


@pytest.fixture
def draft(client: FlaskClient) -> FlaskClient:
    with db.transaction() as session:
        open_d3_draft(
            session,
            account_id=USER,
            opens_local=datetime(2027, 10, 1, 9, 0),
            closes_local=datetime(2027, 10, 31, 14, 0),
            form=FORM,
            contacts=ROME_CONTACTS,
            answers={"schools": ["RMPS01000A"], "dpr445": "on"},
            saved_at=SAVED_AT,
        )
    return client


def _submit(key: str = "click-1") -> Application:
    return submit_d3(account_id=USER, key=key, arrived_at=SUBMITTED_AT, applicant="Lucia Verdi").application


def _events() -> list[Event]:
    with db.transaction() as session:
        rows = session.execute(
            select(outbox.c.payload).where(outbox.c.event_type == "istanze.istanza_submitted")
        ).scalars()
        return [Event.from_json(payload.encode()) for payload in rows]


def _receipts() -> list[Receipt]:
    with db.transaction() as session:
        return list(session.scalars(select(Receipt)))


def _state() -> tuple[str, int | None]:
    with db.transaction() as session:
        a = service.application_of(session, account_id=USER, code="modello-d3")
        assert a is not None
        return a.state, a.protocol_number


def _crash_after_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(submission_module, "complete", crash)


def _pdf_text(receipt_id: uuid.UUID) -> str:
    with db.transaction() as session:
        receipt = receipts.receipt_of(session, account_id=USER, receipt_id=receipt_id)
        assert receipt is not None and receipt.content is not None
        content = bytes(receipt.content)
    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


def test_d_ist_3_the_number_is_committed_before_the_receipt_is_rendered_then_filed_once(
    draft: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_while_rendering: list[tuple[Any, ...]] = []
    real_render = completion.render_receipt

    def observing_render(data: Any) -> tuple[bytes, str]:
        # Another transaction sees the registration committed, and the render holds no lock: SQLite's
        # BEGIN IMMEDIATE would wait for an open write; PostgreSQL's NOWAIT would refuse a locked counter.
        state = _state()
        with db.transaction() as session:
            row = session.scalar(select(Receipt))
            counter = session.scalar(select(ProtocolCounter).with_for_update(nowait=True))
            assert row is not None and counter is not None
            seen_while_rendering.append((state, row.protocol_number, row.sha256, counter.last_number))
        return real_render(data)

    monkeypatch.setattr(completion, "render_receipt", observing_render)
    application = _submit()

    assert seen_while_rendering == [(("protocollata", 1), 1, None, 1)]
    assert (application.state, application.protocol_number) == ("inoltrata", 1)
    [receipt] = _receipts()
    assert receipt.sha256 is not None and receipt.pending_since is None and receipt.render_inputs is None
    [event] = _events()
    contracts.validate(event)
    attached = base64.b64decode(event.data["receipt"]["content_base64"])
    assert hashlib.sha256(attached).hexdigest() == receipt.sha256
    assert _state() == ("inoltrata", 1)


def test_d_ist_3_a_crash_after_registration_shows_the_receipt_in_preparation_then_the_sweep_completes_it(
    draft: FlaskClient, issuer: TestIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash_after_registration(monkeypatch)
    with pytest.raises(Crash):
        _submit()
    monkeypatch.undo()

    # Registered with its number, the receipt pending: no event yet, nothing half-filed.
    assert _state() == ("protocollata", 1)
    [pending] = _receipts()
    assert (pending.protocol_number, pending.sha256, pending.size) == (1, None, None)
    assert _events() == []

    # The user sees it being prepared, not an error (D-IST-3).
    headers = {"Authorization": f"Bearer {issuer.token(audience=AUDIENCE, sub=str(USER))}"}
    shown = draft.get("/api/istanze/v1/applications/modello-d3", headers=headers).get_json()
    assert shown["state"] == "protocollata"
    assert shown["submission"]["protocol_number"] == "0000001"
    assert shown["submission"]["receipt_state"] == "in_preparazione"
    [entry] = draft.get("/api/istanze/v1/archive", headers=headers).get_json()["receipts"]
    assert (entry["state"], entry["sha256"]) == ("in_preparazione", None)
    early = draft.get(f"/api/istanze/v1/archive/{entry['id']}/receipt.pdf", headers=headers)
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "receipt_pending"
    with pytest.raises(service.NotAllowed) as refused, db.transaction() as session:
        withdraw(session, account_id=USER, code="modello-d3", arrived_at=SUBMITTED_AT)
    assert refused.value.reason == "receipt_pending"

    # The same click again (D-IST-6): the same submission, no second number.
    again = _submit()
    assert (again.state, again.protocol_number) == ("protocollata", 1)

    # The sweep takes only receipts pending for long enough, then completes exactly once.
    assert completion.sweep(db, registered_before=SUBMITTED_AT) == 0
    later = SUBMITTED_AT + timedelta(seconds=60)
    assert completion.sweep(db, registered_before=later) == 1
    assert completion.sweep(db, registered_before=later) == 0

    assert _state() == ("inoltrata", 1)
    [filed] = _receipts()
    assert (filed.id, filed.protocol_number, filed.pending_since) == (pending.id, 1, None)
    [event] = _events()
    contracts.validate(event)
    assert event.data["protocol_number"] == "0000001"
    attached = base64.b64decode(event.data["receipt"]["content_base64"])
    assert hashlib.sha256(attached).hexdigest() == filed.sha256
    text = _pdf_text(filed.id)
    assert "Lucia Verdi" in text and "0000001" in text  # the inputs kept at registration
    assert "Via Garibaldi 12" in text
    pdf = draft.get(f"/api/istanze/v1/archive/{entry['id']}/receipt.pdf", headers=headers)
    assert pdf.status_code == 200 and hashlib.sha256(pdf.data).hexdigest() == filed.sha256
    assert _submit().state == "inoltrata"  # the click again, after: still one submission, one event
    assert len(_events()) == 1


def test_d_ist_3_a_failed_render_keeps_the_registration_and_the_worker_loop_files_it(
    draft: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(data: Any) -> tuple[bytes, str]:
        raise RuntimeError("renderer out of memory")

    monkeypatch.setattr(completion, "render_receipt", broken)
    application = _submit()
    assert (application.state, application.protocol_number) == ("protocollata", 1)
    monkeypatch.undo()

    stop = threading.Event()
    loop = receipt_sweep_loop(interval=0.05, after=30.0, now=lambda: SUBMITTED_AT + timedelta(minutes=1))
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: _state() == ("inoltrata", 1), timeout=30)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert len(_events()) == 1 and len(_receipts()) == 1
    with db.transaction() as session:
        assert last_number(session, year=2027) == 1  # no number lost or taken twice


def test_d_ist_3_the_request_and_the_sweep_filing_the_same_receipt_file_it_once(
    draft: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash_after_registration(monkeypatch)
    with pytest.raises(Crash):
        _submit()
    monkeypatch.undo()
    [pending] = _receipts()
    with db.transaction() as session:
        data = completion.receipt_data(session, session.get(Receipt, pending.id))
    first, digest, _ = completion.complete(db, receipt_id=pending.id, data=data)
    second, _, _ = completion.complete(db, receipt_id=pending.id, data=data)
    assert (first, second) == (True, False)
    [filed] = _receipts()
    assert filed.sha256 == digest
    assert len(_events()) == 1
    assert _state() == ("inoltrata", 1)
