"""The email confirmation endpoints through HTTP: answers, error shapes and the outbox row (D-ACC-3)."""

import json
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from iam.extensions import db
from iam.models import outbox
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, Opener
from sqlalchemy import select

URL = "/api/iam/v1/email-confirmations"


def outbox_payloads() -> list[dict]:
    with db.transaction() as session:
        return [json.loads(payload) for payload in session.scalars(select(outbox.c.payload))]


def test_a_request_is_accepted_with_202_and_leaves_one_event_in_the_outbox(client: FlaskClient) -> None:
    response = client.post(URL, json={"email": "mario.rossi@example.it", "language": "en"})

    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"id", "status", "expires_at"}  # never the token
    assert body["status"] == "pending"
    [event] = outbox_payloads()
    assert event["data"]["confirmation_id"] == body["id"]
    assert event["data"]["language"] == "en"
    assert event["correlation_id"] == response.headers["X-Request-ID"]


def test_the_token_from_the_link_confirms_the_address_once(client: FlaskClient) -> None:
    client.post(URL, json={"email": "mario.rossi@example.it"})
    link = Opener({DEV_KEY_ID: DEV_PRIVATE_KEY}).open(outbox_payloads()[0]["data"]["confirmation_url"])
    token = parse_qs(urlsplit(link).query)["token"][0]

    first = client.post(f"{URL}/confirm", json={"token": token})
    second = client.post(f"{URL}/confirm", json={"token": token})

    assert first.status_code == 200
    assert first.get_json()["status"] == "confirmed"
    assert second.status_code == 400
    assert second.get_json()["error"]["code"] == "invalid_token"


def test_an_unknown_token_gets_the_same_answer_as_a_used_one(client: FlaskClient) -> None:
    response = client.post(f"{URL}/confirm", json={"token": "never-issued"})

    assert response.status_code == 400
    assert response.get_json() == {
        "error": {
            "code": "invalid_token",
            "message": "The confirmation link is not valid or has expired.",
            "fields": {},
        }
    }


def test_malformed_json_is_refused_as_malformed_json(client: FlaskClient) -> None:
    response = client.post(URL, data='{"email": ', content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


def test_unknown_fields_are_refused_and_named(client: FlaskClient) -> None:
    response = client.post(URL, json={"email": "mario.rossi@example.it", "role": "admin"})

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert error["fields"] == {"role": ["Unknown field."]}
    assert "role" in error["message"]
    assert outbox_payloads() == []


def test_an_oversized_body_is_refused_with_413(client: FlaskClient) -> None:
    huge = json.dumps({"email": "mario.rossi@example.it", "padding": "x" * (2 * 1024 * 1024)})

    response = client.post(URL, data=huge, content_type="application/json")

    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_a_body_that_is_not_declared_json_is_refused_with_415(client: FlaskClient) -> None:
    response = client.post(URL, data="email=mario.rossi@example.it", content_type="text/plain")

    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
