"""Issue 11 item 3 (D-ACC-3): registration's last step does the same work whether or not the codice fiscale
already has an account. Before, the existing path skipped the account, the signed link and its sealing, and
answered ~3 ms sooner (30 interleaved requests each), with identical status, body and headers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.extensions import db
from polis.events import contracts
from polis.events.sealing import Sealer
from registration_helpers import ANNA, API, MARIO, activate_through_api, events, link_token, make_app
from registration_helpers import register_through_api as register
from sqlalchemy import event

COUNTED = ("seal", "validate", "dumps", "SELECT", "INSERT", "UPDATE", "DELETE", "SAVEPOINT")


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url)


class Work:
    """What the submit step costs: sealings, event validations, link signatures, SQL statements by kind."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: dict[str, int] = {}
        self.on = False
        real_seal, real_validate = Sealer.seal, contracts.validate

        def seal(sealer: Sealer, plaintext: str) -> str:
            self.bump("seal")
            return real_seal(sealer, plaintext)

        def validate(checked: Any) -> None:
            self.bump("validate")
            real_validate(checked)

        from itsdangerous import URLSafeTimedSerializer

        real_dumps = URLSafeTimedSerializer.dumps

        def dumps(serializer: URLSafeTimedSerializer, obj: Any, salt: Any = None) -> Any:
            self.bump("dumps")
            return real_dumps(serializer, obj, salt)

        monkeypatch.setattr(Sealer, "seal", seal)
        monkeypatch.setattr(contracts, "validate", validate)
        monkeypatch.setattr(URLSafeTimedSerializer, "dumps", dumps)
        event.listen(db.engine, "before_cursor_execute", self.statement)

    def bump(self, name: str) -> None:
        if self.on:
            self.counts[name] = self.counts.get(name, 0) + 1

    def statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.bump(statement.lstrip().split()[0].upper())

    def submit(self, client: FlaskClient, headers: dict[str, str]) -> dict[str, int]:
        self.counts, self.on = {}, True
        answer = client.post(f"{API}/current/submit", json={"consent": True}, headers=headers)
        self.on = False
        assert answer.status_code == 202, answer.get_json()
        return {name: n for name, n in self.counts.items() if name in COUNTED}


def up_to_the_summary(
    client: FlaskClient, codice_fiscale: str, personal_data: dict[str, Any]
) -> dict[str, str]:
    from registration_helpers import captcha

    started = client.post(API, json={"codice_fiscale": codice_fiscale, "captcha": captcha()})
    headers = {"X-Registration-Token": started.get_json()["token"]}
    client.put(f"{API}/current/personal-data", json=personal_data, headers=headers)
    client.put(f"{API}/current/contacts", json={"personal_email": "someone@example.it"}, headers=headers)
    client.put(
        f"{API}/current/security-question", json={"question": "Colore?", "answer": "rosso"}, headers=headers
    )
    return headers


def test_the_last_step_does_the_same_work_for_a_new_and_an_existing_codice_fiscale(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app.test_client()
    register(client, MARIO)
    activate_through_api(client, link_token(events("iam.registration_confirmation_requested")[0]))
    existing = up_to_the_summary(app.test_client(), MARIO.codice_fiscale, MARIO.personal_data())
    new = up_to_the_summary(app.test_client(), ANNA.codice_fiscale, ANNA.personal_data())
    work = Work(monkeypatch)

    on_existing = work.submit(app.test_client(), existing)
    on_new = work.submit(app.test_client(), new)

    assert on_existing == on_new, (on_existing, on_new)
    assert on_new["seal"] == 1 and on_new["dumps"] == 1  # the link signed and sealed on both paths
    # Nothing of the rehearsal is kept: one link for Anna, none more for Mario, one attempt told to Mario.
    assert len(events("iam.registration_confirmation_requested")) == 2
    assert len(events("iam.registration_attempted_for_existing_account")) == 1
