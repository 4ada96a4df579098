"""D-IST-2/3/6: submitting a draft with the personal code (enablement's answer faked here; the RPC itself is
tested by enablement and polis.rpc), the deadline by the server's clock at arrival, one protocol number per
click, and a refused code or a closed window leaving the draft untouched."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from istanze.applications import service
from istanze.applications.submission import CodeRefused
from istanze.extensions import db
from istanze.protocol.service import last_number
from istanze_backend_support import open_d3_draft, submit_d3

FORM = {"sections": [{"id": "sedi", "fields": [{"name": "dpr445", "type": "declaration", "required": True}]}]}
LAST_SECOND = datetime(2027, 10, 31, 12, 59, 59, tzinfo=UTC)  # 13:59:59 in Rome, the autumn DST Sunday
CLOSING = datetime(2027, 10, 31, 13, 0, 0, tzinfo=UTC)  # 14:00:00 in Rome
USER = uuid.uuid4()


class FakeEnablement:
    """enablement.check_personal_code as its contract answers: ok only for the user's code."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, account_id: uuid.UUID, code: str) -> Mapping[str, Any]:
        self.calls += 1
        if code == "locked!":
            return {"valid": False, "status": "locked", "retry_after": 60}
        return {"valid": True, "status": "ok"} if code == "Codice-1" else {"valid": False, "status": "wrong"}


@pytest.fixture
def draft(client: FlaskClient) -> None:
    with db.transaction() as session:
        open_d3_draft(
            session,
            account_id=USER,
            opens_local=datetime(2027, 10, 1, 9, 0),
            closes_local=datetime(2027, 10, 31, 14, 0),
            form=FORM,
            answers={"dpr445": "on"},
            saved_at=datetime(2027, 10, 2, tzinfo=UTC),
        )


def _submit(personal_code: str, *, key: str = "click-1", at: datetime = LAST_SECOND, checker: Any = None):  # type: ignore[no-untyped-def]
    application = submit_d3(
        account_id=USER,
        personal_code=personal_code,
        key=key,
        check_code=checker or FakeEnablement(),
        arrived_at=at,
    ).application
    return application.state, application.protocol_number, application.segnatura


def _state() -> tuple[str, int | None]:
    with db.transaction() as session:
        a = service.application_of(session, account_id=USER, code="modello-d3")
        assert a is not None
        return a.state, a.protocol_number


def test_d_ist_3_a_submission_at_13_59_59_gets_a_protocol_number_and_becomes_inoltrata(draft: None) -> None:
    state, number, segnatura = _submit("Codice-1")
    assert (state, number) == ("inoltrata", 1)
    assert segnatura == "m_pi.AOODGPER.REGISTRO UFFICIALE.U.0000001.31/10/2027"


def test_d_ist_6_a_submission_arriving_at_14_00_00_is_refused_and_the_draft_is_kept(draft: None) -> None:
    with pytest.raises(service.NotAllowed) as refused:
        _submit("Codice-1", at=CLOSING)
    assert refused.value.reason == "window_closed"
    assert _state() == ("bozza", None)


def test_d_ist_2_a_wrong_or_locked_code_leaves_the_draft_untouched_and_takes_no_number(draft: None) -> None:
    with pytest.raises(CodeRefused) as wrong:
        _submit("sbagliato")
    assert wrong.value.status == "wrong"
    with pytest.raises(CodeRefused) as locked:
        _submit("locked!")
    assert (locked.value.status, locked.value.retry_after) == ("locked", 60)
    assert _state() == ("bozza", None)
    with db.transaction() as session:
        assert last_number(session, year=2027) == 0


def test_d_ist_6_a_double_click_gives_one_submission_and_one_number(draft: None) -> None:
    checker = FakeEnablement()
    first = _submit("Codice-1", checker=checker)
    again = _submit("Codice-1", checker=checker)  # the same click's key
    assert first == again and first[1] == 1
    assert checker.calls == 1  # the repeat is answered without asking enablement again
    with pytest.raises(service.NotAllowed) as other:
        _submit("Codice-1", key="click-2")  # a new click on a submitted application
    assert other.value.reason == "not_a_draft"
    with db.transaction() as session:
        assert last_number(session, year=2027) == 1


def test_d_ist_2_an_incomplete_draft_cannot_be_submitted(draft: None) -> None:
    with db.transaction() as session:
        a = service.application_of(session, account_id=USER, code="modello-d3")
        assert a is not None
        a.answers = {}
    with pytest.raises(service.SectionInvalid) as refused:
        _submit("Codice-1")
    assert set(refused.value.errors) == {"sedi.dpr445"}
    assert _state() == ("bozza", None)
