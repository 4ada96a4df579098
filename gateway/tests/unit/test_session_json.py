"""A session entry's JSON (gateway/sessions.py, issue 18): plain values go through the json module, anything
else through Flask's tagged JSON, and either way an entry reads back exactly as the tagged JSON reads it, also
an entry written before (all tagged) and, by the code before, an entry written now."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from markupsafe import Markup

from gateway import sessions

PLAIN = [
    {},
    {
        "user": {"sub": "u-1", "given_name": "Zoë", "family_name": "O'Neil <b>", "login_at": 1765000000},
        "tok": {"access_token": "a.b.c", "expires_at": 1765000900.5, "refresh_token": None},
        "_permanent": True,
        "id_token": "x.y.z",
    },
    {"oidc_pending": {"state": "s", "nonce": "n", "verifier": "v", "next": '/area-personale?a=1&b="2"'}},
    {"list": [1, 2.5, "three", [None, False], {"k": "v"}], "empty": [], "nested": {"a": {"b": {}}}},
    {"text": 'no space after a quote"here', "unicode": "\u2603 \U0001f600"},
]
TAGGED = [
    {"_flashes": [("message", "Ciao")]},  # tuples, as flash() stores them
    {"b": b"\x00\xff"},
    {"m": Markup("<b>safe</b>")},
    {"u": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    {"d": datetime(2026, 12, 8, 1, 2, 3, tzinfo=UTC)},
    {"looks_tagged": {" t": [1, 2]}},
    {"looks_tagged": {" di": {"a": 1}}},
    {1: "an int key"},
    {"deep": [{"x": (1,)}]},
]
# Plain values whose text has what a tag's text has (a quote then a space): read through the tagged JSON.
SPACED = [
    {"space": " a string starting with a space"},
    {"space key": {" not a tag": 1, "y": 2}},
    {"escaped": "\\u0020t"},
]


def _tagged_text(value: Any) -> str:
    # What the tagged JSON makes of a value: tuples, bytes, Markup ... each with their own tag.
    return sessions._SERIALIZER.dumps(value)


@pytest.mark.parametrize("value", PLAIN + TAGGED + SPACED)
def test_an_entry_reads_back_as_the_tagged_json_reads_it(value: dict[str, Any]) -> None:
    expected = sessions._SERIALIZER.loads(sessions._SERIALIZER.dumps(value))
    for text in (sessions._dumps(value), sessions._SERIALIZER.dumps(value)):  # written now, written before
        got = sessions._loads(text)
        assert got == expected
        assert _tagged_text(got) == _tagged_text(expected)  # the same types too (a tuple stays a tuple)
        old_reading = sessions._SERIALIZER.loads(text)  # the code before reading what is written now
        assert old_reading == expected and _tagged_text(old_reading) == _tagged_text(expected)


@pytest.mark.parametrize("value", PLAIN)
def test_plain_values_skip_the_tagged_json(value: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    class NoTags:
        def dumps(self, value: Any) -> str:
            raise AssertionError("tagged dumps")

        def loads(self, text: str) -> Any:
            raise AssertionError("tagged loads")

    text = sessions._dumps(value)
    assert json.loads(text) == value
    monkeypatch.setattr(sessions, "_SERIALIZER", NoTags())
    assert sessions._loads(sessions._dumps(value)) == value


@pytest.mark.parametrize("value", TAGGED)
def test_other_values_take_the_tagged_json(value: dict[str, Any]) -> None:
    assert not sessions._plain(value)
    assert sessions._dumps(value) == sessions._SERIALIZER.dumps(value)


def test_a_sealed_entry_opens_with_its_values_and_time() -> None:
    data = {**PLAIN[1], "_flashes": [("message", "Ciao")]}
    sealed = sessions._seal("the-cookie-secret", data, 1765000000.25)
    opened = sessions._open("the-cookie-secret", sealed)
    assert opened is not None
    assert opened[1] == 1765000000.25
    assert opened[0] == data and opened[0]["_flashes"] == [("message", "Ciao")]
    assert sessions._open("another-secret", sealed) is None
