"""D-IST-2 / D-IST-6: one draft per user per procedure, saved section by section and resumable; the
declared staff category decides who may fill it; outside the window nothing is created; a section with
errors is refused field by field and the draft stays as it was."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from istanze.applications import service
from istanze.applications.models import Application
from istanze.extensions import db
from istanze.procedures import service as procedures
from istanze_backend_support import open_d3_for
from sqlalchemy import func, select

FORM = {
    "sections": [
        {"id": "dati", "fields": [{"name": "anni", "type": "number", "integer": True, "required": True}]},
        {
            "id": "sedi",
            "fields": [
                {"name": "sedi", "type": "schools", "max_items": 2, "required": True},
                {"name": "dpr445", "type": "declaration", "required": True},
            ],
        },
    ]
}
OPEN = datetime(2027, 3, 28, 11, 59, 59, tzinfo=UTC)  # 13:59:59 in Rome, last second of the window
CLOSED = datetime(2027, 3, 28, 12, 0, 0, tzinfo=UTC)  # 14:00:00 in Rome
USER = uuid.uuid4()


@pytest.fixture
def d3(client: FlaskClient) -> None:
    with db.transaction() as session:
        open_d3_for(
            session,
            account_id=USER,
            opens_local=datetime(2027, 3, 1, 9, 0),
            closes_local=datetime(2027, 3, 28, 14, 0),
            form=FORM,
        )


def _save(section: str, answers: dict, *, at: datetime = OPEN, user: uuid.UUID = USER) -> Application:  # type: ignore[type-arg]
    with db.transaction() as session:
        return service.save_section(
            session, account_id=user, code="modello-d3", section=section, answers=answers, now=lambda: at
        )


def test_d_ist_2_a_draft_is_saved_section_by_section_and_resumed(d3: None) -> None:
    _save("dati", {"anni": "12"})
    _save("sedi", {"sedi": ["RMPS01000A", "RMIC8AB00X"], "dpr445": "on"})
    _save("dati", {"anni": "13"})  # a later save of a section replaces that section only
    with db.transaction() as session:  # a new session: what another device would read
        draft = service.application_of(session, account_id=USER, code="modello-d3")
        assert draft is not None and draft.state == "bozza"
        assert draft.answers == {
            "dati": {"anni": "13"},
            "sedi": {"sedi": ["RMPS01000A", "RMIC8AB00X"], "dpr445": True},
        }
        assert (
            session.scalar(select(func.count()).select_from(Application)) == 1
        )  # D-IST-6: one per procedure


def test_d_ist_2_a_section_with_errors_is_refused_and_the_draft_is_untouched(d3: None) -> None:
    _save("sedi", {"sedi": ["RMPS01000A"], "dpr445": "on"})
    with pytest.raises(service.SectionInvalid) as refused:
        _save("sedi", {"sedi": ["XXXX00000X"], "dpr445": ""})
    assert {n: e.reason for n, e in refused.value.errors.items()} == {
        "sedi": "unknown_school",
        "dpr445": "not_ticked",
    }
    with pytest.raises(KeyError):
        _save("tampered", {})
    with db.transaction() as session:
        draft = service.application_of(session, account_id=USER, code="modello-d3")
        assert draft is not None and draft.answers == {"sedi": {"sedi": ["RMPS01000A"], "dpr445": True}}


def test_d_ist_1_outside_the_window_no_draft_is_created(d3: None) -> None:
    with pytest.raises(service.NotAllowed) as refused:
        _save("dati", {"anni": "1"}, at=CLOSED)
    assert refused.value.reason == "window_closed"
    with db.transaction() as session:
        assert service.application_of(session, account_id=USER, code="modello-d3") is None


def test_d_ist_6_another_staff_category_or_none_declared_may_not_fill_it(d3: None) -> None:
    teacher, undeclared = uuid.uuid4(), uuid.uuid4()
    with db.transaction() as session:
        service.declare_category(session, account_id=teacher, staff_category="docenti")
        assert service.category_of(session, account_id=teacher) == "docenti"
    for user in (teacher, undeclared):
        with pytest.raises(service.NotAllowed) as refused:
            _save("dati", {"anni": "1"}, user=user)
        assert refused.value.reason == "not_your_category"
    with pytest.raises(ValueError), db.transaction() as session:
        service.declare_category(session, account_id=teacher, staff_category="astronauti")


def test_an_unknown_procedure_is_refused(d3: None) -> None:
    with pytest.raises(procedures.UnknownProcedure), db.transaction() as session:
        service.save_section(session, account_id=USER, code="nessuna", section="dati", answers={})
