"""The compiled fast path of the contracts never accepts what jsonschema refuses (issue 16, P5).

polis.events.contracts accepts an instance when fastjsonschema's compiled function does, and otherwise asks
jsonschema for the verdict and the message. These tests hold the fast path to that promise: over every
sub-schema of every contract and a pool of tricky values (bools for integers, 1.0, trailing newlines, bad
formats, long strings, wrong types), whatever the fast path accepts jsonschema accepts too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from polis.events import Event, contracts
from polis.events.contracts import FORMATS, _compile_fast, _passes

GOOD_UUID = str(uuid.uuid4())
POOL: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    1.0,
    -1,
    2**40,
    1.5,
    "",
    "a",
    "a\n",
    "x" * 300,
    "x" * 5000,
    GOOD_UUID,
    GOOD_UUID.upper(),
    GOOD_UUID + "\n",
    GOOD_UUID.replace("-", ""),
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00+01:00",
    "2026-01-01T00:00:00",
    "2026-01-01",
    "yesterday",
    "a@b.it",
    "a@b.it\n",
    "not an email",
    "it",
    "en",
    "inactivity",
    "ops",
    "sealed:v1:abc:def",
    "sealed:v1:abc:def\n",
    "aGVsbG8=",
    "iam.account_revoked",
    "Iam.x",
    [],
    ["a"],
    [{}],
    {},
    {"a": 1},
]


def _subschemas(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if any(key in node for key in ("type", "enum", "pattern", "format", "properties", "anyOf", "allOf")):
            yield node
        for key in ("properties", "$defs"):
            for child in (node.get(key) or {}).values():
                yield from _subschemas(child)
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                yield from _subschemas(node[key])
        for key in ("anyOf", "allOf", "oneOf", "prefixItems"):
            for child in node.get(key) or []:
                yield from _subschemas(child)


def _candidates(schema: dict[str, Any]) -> list[Any]:
    values = list(POOL) + list(schema.get("enum", []))
    properties = schema.get("properties")
    if isinstance(properties, dict):
        # An object with every property at a pool value, one missing, one extra.
        for value in POOL:
            values.append(dict.fromkeys(properties, value))
        values.append({name: GOOD_UUID for name in list(properties)[1:]})
        values.append({**dict.fromkeys(properties, "a"), "extra": 1})
    return values


def _inlined_schemas() -> dict[str, dict[str, Any]]:
    loaded = contracts._contracts()
    return {name: validator.schema for name, validator in loaded._validators.items()}


@pytest.mark.parametrize("name", sorted(_inlined_schemas()))
def test_fast_path_never_accepts_what_jsonschema_refuses(name: str) -> None:
    checked = 0
    for schema in _subschemas(_inlined_schemas()[name]):
        fast = _compile_fast(schema)
        assert fast is not None, "every contract has a fast path"
        slow = Draft202012Validator(schema, format_checker=FORMATS)
        for value in _candidates(schema):
            if _passes(fast, value):
                assert slow.is_valid(value), (name, schema, value)
            checked += 1
    assert checked > len(POOL)


def test_valid_events_take_the_fast_path() -> None:
    """The revocation round's events pass the compiled checks (else the fast path would not help)."""
    loaded = contracts._contracts()
    events = [
        Event.new(
            "iam.revocation_announced",
            {
                "account_id": GOOD_UUID,
                "round_id": GOOD_UUID,
                "cutoff": "2017-12-31T23:00:00+00:00",
                "deadline": "2026-07-12T22:00:00+00:00",
            },
            producer="iam",
        ),
        Event.new(
            "iam.account_revoked",
            {
                "account_id": GOOD_UUID,
                "reason": "inactivity",
                "round_id": None,
                "revoked_at": "2026-07-12T22:00:00+00:00",
            },
            producer="iam",
        ),
    ]
    for event in events:
        envelope = event.to_dict()
        assert _passes(loaded._fast[contracts.ENVELOPE], envelope)
        assert _passes(loaded._fast[f"{event.type}.v1.json"], envelope["data"])
        contracts.validate(event)


def test_a_refusal_still_names_the_field() -> None:
    """The fast path refuses, jsonschema gives the verdict and the dotted path as before."""
    event = Event.new(
        "iam.account_revoked",
        {
            "account_id": "nope",
            "reason": "inactivity",
            "round_id": None,
            "revoked_at": "2026-01-01T00:00:00Z",
        },
        producer="iam",
    )
    with pytest.raises(contracts.ContractViolation) as caught:
        contracts.validate(event)
    assert caught.value.path == "data.account_id"


def test_record_many_writes_the_same_rows_on_both_databases(database_url: str) -> None:
    """record_many (COPY on PostgreSQL, a multi-row INSERT on SQLite) writes each event once, as record
    would; a JSON column through insert_rows reads back as the value given; a violation writes nothing."""
    from polis.events import outbox
    from polis.testing.helpers import EventTables
    from sqlalchemy import JSON, Column, Integer, MetaData, Table, select

    tables = EventTables(database_url)
    extra = Table("notes", MetaData(), Column("id", Integer, primary_key=True), Column("body", JSON))
    extra.create(tables.db.engine)
    events = [
        Event.new("polis.test_happened", {"n": n}, producer="test", correlation_id=f"c{n}") for n in range(50)
    ]
    with tables.db.transaction() as session:
        outbox.record_many(session, events, tables.outbox)
        outbox.insert_rows(session, extra, [{"id": 1, "body": {"a": ["è", 1]}}, {"id": 2, "body": None}])
    bad = Event.new("polis.test_happened", {"n": "not a number"}, producer="test")
    with pytest.raises(contracts.ContractViolation), tables.db.transaction() as session:
        good = Event.new("polis.test_happened", {"n": 1}, producer="test")
        outbox.record_many(session, [good, bad], tables.outbox)
    with tables.db.transaction() as session:
        rows = session.execute(select(tables.outbox.c.event_id, tables.outbox.c.payload)).all()
        notes = session.execute(select(extra.c.id, extra.c.body).order_by(extra.c.id)).all()
    assert sorted(rows) == sorted((e.id, e.to_json().decode()) for e in events)
    assert [tuple(n) for n in notes] == [(1, {"a": ["è", 1]}), (2, None)]
    tables.db.dispose()


def test_a_contract_is_compiled_on_its_first_use_only() -> None:
    """A process pays only for the contracts it uses (issue 15, P6: all of them cost 130-300 ms each)."""
    loaded = contracts.Contracts(contracts.CONTRACTS_DIR)
    assert dict(loaded._fast) == {}
    event = Event.new(
        "iam.account_revoked",
        {
            "account_id": GOOD_UUID,
            "reason": "inactivity",
            "round_id": None,
            "revoked_at": "2026-01-01T00:00:00Z",
        },
        producer="iam",
    )
    loaded.validate(event)
    assert sorted(dict(loaded._fast)) == [contracts.ENVELOPE, "iam.account_revoked.v1.json"]
    with pytest.raises(contracts.ContractViolation):
        loaded.validate(Event.new("iam.account_revoked", {"account_id": "nope"}, producer="iam"))
