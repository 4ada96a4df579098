"""Consumed events become queued deliveries, once per event id, with secrets still sealed (D-ACC-3)."""

from collections.abc import Callable

from notifier.delivery.models import Delivery
from notifier.messaging.handlers import HANDLERS
from polis.db import Database
from polis.events import Event
from polis.events.contracts import validate
from sqlalchemy import select


def deliver(database: Database, event: Event) -> None:
    """What the consumer does: the handler for the event's type, inside one transaction."""
    with database.transaction() as session:
        HANDLERS[event.type](session, event)


def deliveries(database: Database) -> list[Delivery]:
    with database.transaction() as session:
        return list(session.scalars(select(Delivery)))


def test_the_handled_events_follow_their_contracts(link_event: Callable[..., Event]) -> None:
    validate(link_event())


def test_a_link_message_queues_one_delivery_with_the_link_still_sealed(
    database: Database, link_event: Callable[..., Event], link: str
) -> None:
    event = link_event(language="en")

    deliver(database, event)

    [delivery] = deliveries(database)
    assert str(delivery.event_id) == event.id
    assert (delivery.kind, delivery.recipient, delivery.language) == (
        "registration_confirmation",
        "mario.rossi@example.it",
        "en",  # the account's language, from the read model
    )
    assert (delivery.state, delivery.attempts) == ("queued", 0)
    # The event's data as it came (the link sealed), plus the names the email greets the user with.
    account = {"first_name": "Mario", "last_name": "Rossi", "username": None}
    assert delivery.payload == {**event.data, "account": account}
    assert link not in str(delivery.payload)


def test_the_same_event_delivered_twice_queues_one_delivery(
    database: Database, link_event: Callable[..., Event]
) -> None:
    event = link_event()

    deliver(database, event)
    deliver(database, event)

    assert len(deliveries(database)) == 1
