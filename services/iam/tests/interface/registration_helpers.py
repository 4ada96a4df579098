"""Helpers of the registration tests: an IAM app with the test captcha and fast argon2, people, links."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from codicefiscale import codicefiscale
from flask import Flask
from flask.testing import FlaskClient
from iam import create_app
from iam.extensions import db
from iam.models import all_metadata, outbox
from polis.events import Event, contracts
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, Opener
from polis.testing import free_port
from sqlalchemy import select

API = "/api/iam/v1/registrations"
PASSWORD = "tavolo lampone bicicletta nuvola"
CAPTCHA_OK = "test-pass-"  # the test adapter accepts test-pass-<anything> once


@dataclass(frozen=True)
class Person:
    last_name: str
    first_name: str
    birth_date: str
    sex: str
    birth_place: str

    @property
    def codice_fiscale(self) -> str:
        return codicefiscale.encode(
            self.last_name, self.first_name, self.sex, self.birth_date, self.birth_place
        )

    def personal_data(self, **changes: str) -> dict[str, str]:
        data = {
            "last_name": self.last_name,
            "first_name": self.first_name,
            "birth_date": self.birth_date,
            "sex": self.sex,
            "birth_place": self.birth_place,
        }
        data.update(changes)
        return data


MARIO = Person("Rossi", "Mario", "1980-01-01", "M", "Roma")
NICCOLO = Person("D'Amico", "Niccolò", "1975-05-10", "M", "Firenze")
ANNA = Person("Müller", "Anna", "1990-03-15", "F", "Germania")

_captchas = iter(range(1, 10**9))


def captcha() -> str:
    """A fresh response the test captcha accepts (once)."""
    return f"{CAPTCHA_OK}{next(_captchas)}"


def make_app(database_url: str, **overrides: Any) -> Iterator[Flask]:
    config = {
        "DATABASE_URL": database_url,
        "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F",
        "CAPTCHA": "test",
        "ARGON2_MEMORY_KIB": 256,
        "ARGON2_TIME_COST": 1,
        **overrides,
    }
    app = create_app(config)
    all_metadata().create_all(db.engine)
    yield app
    db.dispose()


def events(event_type: str | None = None) -> list[dict[str, Any]]:
    """The outbox's events (optionally of one type), each validated against its contract."""
    with db.transaction() as session:
        payloads = [
            json.loads(row) for row in session.scalars(select(outbox.c.payload).order_by(outbox.c.id))
        ]
    for payload in payloads:
        contracts.validate(Event.from_dict(payload))
    return [p for p in payloads if event_type is None or p["type"] == event_type]


def open_link(sealed: str) -> str:
    return Opener({DEV_KEY_ID: DEV_PRIVATE_KEY}).open(sealed)


def link_token(event: dict[str, Any]) -> str:
    return open_link(event["data"]["confirmation_url"]).rsplit("/", 1)[1]


def register_through_api(
    client: FlaskClient, person: Person, *, email: str = "mario.rossi@example.it", language: str = "it"
) -> str:
    """Steps 1-5 through the API; the token of the registration."""
    started = client.post(
        API, json={"codice_fiscale": person.codice_fiscale, "captcha": captcha(), "language": language}
    )
    assert started.status_code == 201, started.get_json()
    token = started.get_json()["token"]
    headers = {"X-Registration-Token": token}
    for path, body in (
        ("personal-data", person.personal_data()),
        ("contacts", {"personal_email": email}),
        ("security-question", {"question": "Il nome del mio primo gatto?", "answer": "Fuffi Primo"}),
    ):
        answer = client.put(f"{API}/current/{path}", json=body, headers=headers)
        assert answer.status_code == 200, answer.get_json()
    submitted = client.post(f"{API}/current/submit", json={"consent": True}, headers=headers)
    assert submitted.status_code == 202, submitted.get_json()
    return token


def activate_through_api(client: FlaskClient, token: str, password: str = PASSWORD) -> Any:
    return client.post(f"{API}/activation", json={"token": token, "password": password})
