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


def test_the_handled_events_follow_their_contracts(confirmation_event: Callable[..., Event]) -> None:
    validate(confirmation_event())


def test_a_confirmation_request_queues_one_delivery_with_the_link_still_sealed(
    database: Database, confirmation_event: Callable[..., Event], link: str
) -> None:
    event = confirmation_event(language="en")

    deliver(database, event)

    [delivery] = deliveries(database)
    assert str(delivery.event_id) == event.id
    assert (delivery.kind, delivery.recipient, delivery.language) == (
        "email_confirmation",
        "mario.rossi@example.it",
        "en",
    )
    assert (delivery.state, delivery.attempts) == ("queued", 0)
    assert delivery.payload == event.data
    assert link not in str(delivery.payload)


def test_the_same_event_delivered_twice_queues_one_delivery(
    database: Database, confirmation_event: Callable[..., Event]
) -> None:
    event = confirmation_event()

    deliver(database, event)
    deliver(database, event)

    assert len(deliveries(database)) == 1
