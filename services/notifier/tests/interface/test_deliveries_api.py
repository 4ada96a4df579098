"""The deliveries ops endpoint and the notifier's platform endpoints, through HTTP."""

from collections.abc import Callable

from flask.testing import FlaskClient
from notifier.extensions import db
from notifier.messaging.handlers import HANDLERS
from polis.events import Event

URL = "/api/notifier/v1/deliveries"


def test_deliveries_are_listed_by_state_without_their_payload(
    client: FlaskClient, confirmation_event: Callable[..., Event]
) -> None:
    event = confirmation_event()
    with db.transaction() as session:
        HANDLERS[event.type](session, event)

    queued = client.get(URL, query_string={"state": "queued", "kind": "email_confirmation"})
    sent = client.get(URL, query_string={"state": "sent"})

    assert queued.status_code == 200
    [item] = queued.get_json()["items"]
    assert item["event_id"] == event.id
    assert item["state"] == "queued"
    assert "payload" not in item
    assert sent.get_json() == {"items": []}


def test_an_unknown_state_or_filter_is_refused(client: FlaskClient) -> None:
    assert client.get(URL, query_string={"state": "lost"}).status_code == 400
    response = client.get(URL, query_string={"colour": "red"})
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {"colour": ["Unknown field."]}


def test_the_notifier_answers_health_and_documents_its_api(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json()["service"] == "notifier"
    assert client.get("/readyz").status_code == 503  # the broker port is closed
    assert client.get("/api/notifier/v1/").get_json() == {"service": "notifier", "version": "0.1.0"}
    assert set(client.get("/openapi.json").get_json()["paths"]) >= {URL, "/api/notifier/v1/"}
