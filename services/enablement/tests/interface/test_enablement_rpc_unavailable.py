"""When IAM cannot answer over polis.rpc (issue 14 item 1): the personal-code change asks IAM whether the
new code is the password; with no responder on a real broker the page says "riprova tra poco" (503), keeps
the user where they were (nothing is saved: the temporary code still works only for the change), and the
API answers the JSON error service_unavailable. Nothing the user typed is lost: the same change succeeds
as soon as IAM answers again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from enablement import create_app
from enablement.extensions import db
from enablement.models import all_metadata
from flask import Flask
from polis.rpc import RpcResponder, queue_name
from polis.testing.helpers import Threads, wait_until
from polis.testing.rabbitmq import RabbitMQNode, delete_queue
from polis.testing.tokens import TestIssuer
from test_enablement_flow import API, _events, _identified, _user

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def rpc_app(database_url: str, issuer: TestIssuer, rabbitmq_running: RabbitMQNode) -> Iterator[Flask]:
    """The enablement app asking IAM over the real broker (no fake), cheap argon2, a short RPC timeout."""
    delete_queue(rabbitmq_running.url, queue_name("iam"))  # no IAM responder
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "BROKER_URL": rabbitmq_running.url,
            "TOKEN_ISSUER": issuer.issuer,
            "TOKEN_JWKS": issuer.jwks(),
            "ARGON2_MEMORY_KIB": 1024,
            "ARGON2_TIME_COST": 1,
            "RPC_TIMEOUT": 2.0,
        }
    )
    all_metadata().create_all(db.engine)
    yield app
    db.dispose()


def test_the_change_says_try_again_shortly_and_saves_nothing_when_iam_cannot_answer(
    rpc_app: Any, issuer: TestIssuer
) -> None:
    client, user, temporary = _identified(rpc_app, issuer)
    headers = _user(issuer, user)
    page = client.get("/abilitazione/cambia-codice", headers=headers).get_data(as_text=True)
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    form = {
        "csrf_token": token,
        "current_code": temporary,
        "new_code": "Girasole42",
        "new_code_again": "Girasole42",
    }

    refused = client.post("/abilitazione/cambia-codice", data=form, headers=headers)

    text = refused.get_data(as_text=True)
    assert refused.status_code == 503 and "riprova tra poco" in text
    assert "Traceback" not in text and 'id="changed"' not in text
    api = client.post(
        f"{API}/personal-code/change",
        json={"current_code": temporary, "new_code": "Girasole42"},
        headers=headers,
    )
    assert api.status_code == 503 and api.get_json()["error"]["code"] == "service_unavailable"
    # Nothing saved: still the mandatory change, no message sent.
    assert client.get(f"{API}/enablement", headers=headers).get_json()["state"] == "must_change"
    assert _events("enablement.personal_code_changed") == []

    # IAM answers again: the same form, as the page kept it for a retry, goes through.
    threads = Threads()
    responder = RpcResponder(
        rpc_app.config["BROKER_URL"],
        service="iam",
        handlers={"iam.check_password": lambda payload: {"matches": payload["password"] == "not-this"}},
        concurrency=1,
    )
    threads.start(lambda: responder.run(threads.stop_event))
    try:
        wait_until(responder.ready.is_set)
        done = client.post("/abilitazione/cambia-codice", data=form, headers=headers)
        assert done.status_code == 200 and 'id="changed"' in done.get_data(as_text=True)
    finally:
        threads.stop()
    assert client.get(f"{API}/enablement", headers=headers).get_json()["state"] == "enabled"
