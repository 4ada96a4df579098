"""Envelope round trips, malformed input, and contract checks at validation and record time."""

from __future__ import annotations

import json

import pytest
from polis import requestid
from polis.events import ContractViolation, Event, MalformedEvent, known_types, record, validate
from polis.events.sealing import DEV_KEY_ID, DEV_PUBLIC_KEY, Sealer
from sqlalchemy import func, select, text


def test_an_event_survives_a_json_round_trip() -> None:
    event = Event.new(
        "polis.test_happened", {"n": 1, "note": "è"}, producer="tests", correlation_id="req-12345678"
    )
    again = Event.from_json(event.to_json())
    assert again == event
    assert event.to_json() == again.to_json()
    assert json.loads(event.to_json())["occurred_at"].endswith("Z")


def test_new_event_takes_the_current_request_id() -> None:
    with requestid.bind("req-abcdefgh"):
        event = Event.new("polis.test_happened", {"n": 1}, producer="tests")
    assert event.correlation_id == "req-abcdefgh"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"id": "x"}',
        b'{"id":"not-a-uuid","type":"a.b","version":1,"occurred_at":"2026-01-01T00:00:00Z","producer":"p","data":{}}',
        b'{"id":"6f1c1a53-4a0e-4b43-9d0c-1d9d2c7c1f00","type":"a.b","version":"1",'
        b'"occurred_at":"2026-01-01T00:00:00Z","producer":"p","data":{}}',
        b'{"id":"6f1c1a53-4a0e-4b43-9d0c-1d9d2c7c1f00","type":"a.b","version":1,'
        b'"occurred_at":"2026-01-01T00:00:00","producer":"p","data":{}}',
    ],
)
def test_malformed_input_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedEvent):
        Event.from_json(body)


def test_contracts_accept_a_valid_event_and_a_sealed_field() -> None:
    sealed = Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID).seal("s3cret")
    validate(Event.new("polis.test_happened", {"n": 1, "secret": sealed}, producer="tests"))
    assert ("polis.test_happened", 1) in known_types()


@pytest.mark.parametrize(
    ("type_", "version", "data", "path"),
    [
        ("polis.test_happened", 1, {"n": "one"}, "data.n"),
        ("polis.test_happened", 1, {"n": 1, "extra": True}, "data"),
        ("polis.test_happened", 1, {"n": 1, "secret": "plain text"}, "data.secret"),
        ("polis.test_happened", 2, {"n": 1}, "type"),
        ("polis.never_heard_of", 1, {"n": 1}, "type"),
    ],
)
def test_contract_violations_name_the_field(type_: str, version: int, data: dict, path: str) -> None:
    with pytest.raises(ContractViolation) as caught:
        validate(Event.new(type_, data, producer="tests", version=version))
    assert caught.value.path == path


def test_recording_a_violating_event_writes_nothing(tables) -> None:
    good = Event.new("polis.test_happened", {"n": 1}, producer="tests")
    bad = Event.new("polis.test_happened", {"n": "one"}, producer="tests")
    with pytest.raises(ContractViolation), tables.db.transaction() as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS change (x INTEGER)"))
        session.execute(text("INSERT INTO change VALUES (1)"))
        record(session, good, tables.outbox)
        record(session, bad, tables.outbox)
    with tables.db.transaction() as session:
        assert session.execute(select(func.count()).select_from(tables.outbox)).scalar_one() == 0
    with tables.db.transaction() as session:
        record(session, good, tables.outbox)
    with tables.db.transaction() as session:
        row = session.execute(select(tables.outbox)).one()
    assert row.event_id == good.id and row.sent_at is None and Event.from_json(row.payload.encode()) == good


ACCOUNT = "7c1b4a36-93d2-4d7e-8b0a-1f2e3d4c5b6a"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("changed_at", "yesterday"),
        ("changed_at", "2026-11-23"),  # a day, not an instant
        ("changed_at", "2026-11-23T10:00:00"),  # no offset: which 10 o'clock?
        ("account_id", "not-a-uuid-at-all-not-a-uuid-at-all-x"),
    ],
)
def test_formats_in_the_contracts_are_checked(field: str, value: str) -> None:
    data = {"account_id": ACCOUNT, "changed_at": "2026-11-23T10:00:00+01:00", field: value}
    with pytest.raises(ContractViolation) as refused:
        validate(Event.new("iam.password_changed", data, producer="test"))
    assert refused.value.path == f"data.{field}"


def test_an_email_without_a_domain_is_refused_by_the_contract() -> None:
    data = {"account_id": ACCOUNT, "personal_email": "mario.rossi"}
    with pytest.raises(ContractViolation, match="personal_email"):
        validate(Event.new("iam.personal_email_changed", data, producer="test"))
