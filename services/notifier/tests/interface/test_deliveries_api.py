"""The deliveries ops endpoint and the notifier's platform endpoints, through HTTP."""

from collections.abc import Callable

from flask.testing import FlaskClient
from notifier.delivery.models import Delivery
from notifier.extensions import db
from notifier.messaging.handlers import HANDLERS
from notifier.samples import account_registered, message_event
from polis.events import Event
from polis.testing.token_contract import TokenContract
from polis.testing.tokens import TestIssuer
from sqlalchemy import update

URL = "/api/notifier/v1/deliveries"
OPS = {"Authorization": "Bearer dev-notifier-ops-token"}


def test_deliveries_are_listed_by_state_without_their_payload(
    client: FlaskClient, link_event: Callable[..., Event]
) -> None:
    event = link_event()
    with db.transaction() as session:
        HANDLERS[event.type](session, event)

    queued = client.get(
        URL, headers=OPS, query_string={"state": "queued", "kind": "registration_confirmation"}
    )
    sent = client.get(URL, headers=OPS, query_string={"state": "sent"})

    assert queued.status_code == 200
    [item] = queued.get_json()["items"]
    assert item["event_id"] == event.id
    assert item["state"] == "queued"
    assert "payload" not in item
    assert sent.get_json() == {"items": []}


def test_an_unknown_state_or_filter_is_refused(client: FlaskClient) -> None:
    assert client.get(URL, headers=OPS, query_string={"state": "lost"}).status_code == 400
    response = client.get(URL, headers=OPS, query_string={"colour": "red"})
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {"colour": ["Unknown field."]}


def test_the_openapi_document_describes_the_deliveries_api(client: FlaskClient) -> None:
    # health, readiness and the API root: test_notifier_platform.py (polis.testing.platform_contract)
    assert URL in client.get("/openapi.json").get_json()["paths"]


def test_the_ops_endpoints_need_the_operator_token(client: FlaskClient) -> None:
    assert client.get(URL).status_code == 401
    response = client.get(URL, headers={"Authorization": "Bearer not-the-token"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"
    resend = client.post(f"{URL}/6f1c1f0e-2d7a-4b8e-9a51-3c2f0a9b7d11/resend")
    assert resend.status_code == 401


def test_issue_5_an_ops_client_token_opens_the_ops_endpoints(client: FlaskClient, issuer: TestIssuer) -> None:
    ops = issuer.token(
        audience="urn:polis:notifier",
        sub="polis-ops",
        client_id="polis-ops",
        auth_time=None,
        scope="notifier",
        roles=["ops"],
    )
    user = issuer.token(audience="urn:polis:notifier", scope="notifier")  # a person: role user

    assert client.get(URL, headers={"Authorization": f"Bearer {ops}"}).status_code == 200
    refused = client.get(URL, headers={"Authorization": f"Bearer {user}"})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "insufficient_scope"


class TestNotifierTrustsTokensNotHeaders(TokenContract):
    """Issue 5 item 5 at the notifier: the negative list, the scope, no token, the OpenAPI document."""

    SERVICE = "notifier"


def test_a_failed_delivery_is_resent_and_a_queued_one_is_refused(
    client: FlaskClient, link_event: Callable[..., Event]
) -> None:
    event = link_event()
    with db.transaction() as session:
        HANDLERS[event.type](session, event)
    [item] = client.get(URL, headers=OPS).get_json()["items"]

    refused = client.post(f"{URL}/{item['id']}/resend", headers=OPS)
    with db.transaction() as session:
        session.execute(update(Delivery).values(state="failed", last_error="550 no", attempts=3))
    resent = client.post(f"{URL}/{item['id']}/resend", headers=OPS)
    missing = client.post(f"{URL}/6f1c1f0e-2d7a-4b8e-9a51-3c2f0a9b7d11/resend", headers=OPS)

    assert (refused.status_code, refused.get_json()["error"]["code"]) == (409, "delivery_not_failed")
    assert resent.status_code == 200
    assert (resent.get_json()["state"], resent.get_json()["attempts"]) == ("queued", 0)
    assert missing.status_code == 404


def test_deliveries_are_listed_by_account(client: FlaskClient) -> None:
    registered = account_registered()
    account_id = registered.data["account_id"]
    other = account_registered()
    events = [registered, other, message_event("iam.password_changed", account_id)]
    events.append(message_event("iam.password_changed", other.data["account_id"]))
    for event in events:
        with db.transaction() as session:
            HANDLERS[event.type](session, event)

    items = client.get(URL, headers=OPS, query_string={"account_id": account_id}).get_json()["items"]

    assert [(item["account_id"], item["kind"], item["recipients"]) for item in items] == [
        (account_id, "password_changed", ["mario.rossi@example.org"])
    ]


def test_metrics_show_the_backlog_by_state_and_the_lag(
    client: FlaskClient, link_event: Callable[..., Event]
) -> None:
    event = link_event()
    with db.transaction() as session:
        HANDLERS[event.type](session, event)

    text = client.get("/metrics").get_data(as_text=True)

    assert 'notifier_deliveries{state="queued"} 1.0' in text
    assert "notifier_delivery_lag_seconds" in text
