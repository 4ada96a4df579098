"""The deliveries API keeps OpenAPI's promise: every date-time carries its UTC offset (issue 17, item 2)."""

from collections.abc import Callable
from datetime import datetime

from flask.testing import FlaskClient
from notifier.extensions import db
from notifier.messaging.handlers import HANDLERS
from polis.events import Event

URL = "/api/notifier/v1/deliveries"
OPS = {"Authorization": "Bearer dev-notifier-ops-token"}


def test_every_timestamp_of_a_delivery_has_an_offset(
    client: FlaskClient, link_event: Callable[..., Event]
) -> None:
    event = link_event()
    with db.transaction() as session:
        HANDLERS[event.type](session, event)

    [item] = client.get(URL, headers=OPS, query_string={"state": "queued"}).get_json()["items"]

    stamps = {name: item[name] for name in ("occurred_at", "created_at", "next_attempt_at")}
    for name, value in stamps.items():
        # SQLite gives the stored UTC times back naive: "2026-12-02T08:08:59.152700" has no offset.
        assert datetime.fromisoformat(value).utcoffset() is not None, (name, value)
