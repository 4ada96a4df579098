"""D-IST-1: procedures defined in versions, validated before they are published, seen by staff category
(D-IST-6); the windows stored as local times with their zone, on SQLite and PostgreSQL."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from istanze.extensions import db
from istanze.procedures import service
from istanze.procedures.demo import load_demo_procedures
from istanze.procedures.models import Procedure
from sqlalchemy import select

FORM = {"sections": [{"id": "a", "fields": [{"name": "note", "type": "text"}]}]}


@pytest.fixture
def app_db(client: object) -> Iterator[None]:  # the client fixture binds db to a fresh database
    yield


def _define(session, **overrides):  # type: ignore[no-untyped-def]
    values = {
        "code": "modello-d3",
        "title_it": "Modello D3",
        "title_en": "Form D3",
        "description_it": "Scelta delle sedi",
        "description_en": "Choice of schools",
        "staff_categories": ["ata"],
        "opens_local": datetime(2027, 3, 1, 9, 0),
        "closes_local": datetime(2027, 3, 28, 14, 0),
        "form": FORM,
    }
    return service.define(session, **{**values, **overrides})


def test_d_ist_1_a_procedure_is_versioned_and_one_version_is_published(app_db: None) -> None:
    with db.transaction() as session:
        first = _define(session)
        service.publish(session, code="modello-d3", version=first.version)
        second = _define(session, closes_local=datetime(2027, 10, 31, 14, 0))
        assert (first.version, second.version) == (1, 2)
        assert service.published(session, code="modello-d3").version == 1
        service.publish(session, code="modello-d3", version=2)
    with db.transaction() as session:
        current = service.published(session, code="modello-d3")
        assert current.version == 2
        # Stored as the wall-clock time with its zone: read back unchanged on either database.
        assert (current.closes_local, current.time_zone) == (datetime(2027, 10, 31, 14, 0), "Europe/Rome")
        assert not current.window.is_open(datetime(2027, 10, 31, 13, 0, tzinfo=UTC))
        statuses = dict(session.execute(select(Procedure.version, Procedure.status)).all())
        assert statuses == {1: "retired", 2: "published"}


def test_d_ist_1_an_invalid_procedure_is_refused_field_by_field_and_nothing_is_saved(app_db: None) -> None:
    with pytest.raises(service.ProcedureError) as refused, db.transaction() as session:
        _define(
            session,
            code="Bad Code",
            title_en="",
            staff_categories=["astronauti"],
            closes_local=datetime(2027, 3, 28, 2, 30),
            form={"sections": [{"id": "a", "fields": [{"name": "x", "type": "colour"}]}]},
        )
    assert set(refused.value.fields) == {"code", "title_en", "staff_categories", "window", "form"}
    with db.transaction() as session:
        assert session.scalar(select(Procedure.id)) is None


def test_d_ist_6_the_staff_category_decides_which_procedures_a_user_sees(app_db: None) -> None:
    with db.transaction() as session:
        service.publish(session, code="modello-d3", version=_define(session).version)
        teachers = _define(session, code="mobilita-docenti", staff_categories=["docenti"])
        service.publish(session, code="mobilita-docenti", version=teachers.version)
        _define(session, code="bozza", staff_categories=["ata"])  # never published: nobody sees it
    with db.transaction() as session:
        assert [p.code for p in service.visible_to(session, staff_category="ata")] == ["modello-d3"]
        assert [p.code for p in service.visible_to(session, staff_category="docenti")] == ["mobilita-docenti"]
        assert service.visible_to(session, staff_category=None) == []
        with pytest.raises(service.UnknownProcedure):
            service.published(session, code="bozza")


def test_d_ist_1_demo_data_has_one_open_one_closed_one_upcoming_and_loads_once(app_db: None) -> None:
    load_demo_procedures(db)
    assert "none" in load_demo_procedures(db)
    now = datetime.now(UTC)
    with db.transaction() as session:
        states = {p.code: p.window.state(now) for p in session.scalars(select(Procedure))}
        d3 = service.published(session, code="modello-d3")
        assert d3.title_it == "Modello D3 – scelta delle sedi (personale ATA)"  # noqa: RUF001
    assert states == {"modello-d3": "open", "mobilita-docenti": "closed", "modello-b": "upcoming"}
