"""The consumer's batch handler has the effects of the per-event handlers called in order (D-ACC-8)."""

import uuid
from typing import Any

import pytest
from notifier.accounts.models import Account
from notifier.accounts.service import UnknownAccount
from notifier.delivery.models import Delivery
from notifier.messaging.handlers import HANDLERS, handle_batch
from notifier.samples import account_registered, every_message_event, message_event
from polis.db import Database
from polis.events import Event
from sqlalchemy import delete, select

INSTITUTIONAL = "mario.rossi@istruzione.it"
VOLATILE = {"id", "created_at", "next_attempt_at"}
COLUMNS = [column.key for column in Delivery.__table__.columns if column.key not in VOLATILE]
ACCOUNT = ("account_id", "state", "username", "language", "personal_email", "institutional_email", "revoked")


def _story() -> list[Event]:
    """One batch as the consumer may see it: facts and messages of two accounts, interleaved."""
    first = account_registered(state="pending", username=None)
    second = account_registered(kind="mi", language="en", institutional_email=INSTITUTIONAL)
    first_id, second_id = first.data["account_id"], second.data["account_id"]
    institutional = Event.new(
        "iam.institutional_email_set",
        {"account_id": first_id, "institutional_email": "first@istruzione.it"},
        producer="iam",
    )
    return [
        first,
        message_event("iam.password_changed", first_id),
        message_event("iam.account_activated", first_id),  # the username is known before the email
        second,
        *every_message_event(second_id)[:4],
        message_event("iam.username_reminder_requested", first_id),
        institutional,  # the next email of the first account goes to its new reference address
        message_event("iam.password_changed", first_id),
        message_event("iam.account_revoked", second_id),  # the notice first, then revoked
        message_event("iam.password_changed", second_id),  # logged as failed: revoked
    ]


def _log(database: Database) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    with database.transaction() as session:
        deliveries = [
            {column: getattr(row, column) for column in COLUMNS}
            for row in session.scalars(select(Delivery).order_by(Delivery.event_id))
        ]
        accounts = [
            tuple(getattr(a, column) for column in ACCOUNT)
            for a in session.scalars(select(Account).order_by(Account.account_id))
        ]
        session.execute(delete(Delivery))
        session.execute(delete(Account))
    return deliveries, accounts


def test_a_batch_has_the_effects_of_its_events_one_by_one(database: Database) -> None:
    story = _story()
    for event in story:
        with database.transaction() as session:
            HANDLERS[event.type](session, event)
    one_by_one = _log(database)
    with database.transaction() as session:
        handle_batch(session, story)
    batched = _log(database)
    assert batched == one_by_one
    deliveries, _accounts = batched
    assert len(deliveries) == 10 and {d["state"] for d in deliveries} == {"queued", "failed"}


def test_a_batch_naming_an_unknown_account_raises_so_the_consumer_isolates_it(database: Database) -> None:
    known = account_registered()
    with pytest.raises(UnknownAccount), database.transaction() as session:
        handle_batch(
            session,
            [
                known,
                message_event("iam.password_changed", known.data["account_id"]),
                message_event("iam.password_changed", str(uuid.uuid4())),
            ],
        )
    assert _log(database) == ([], [])  # the consumer rolls the batch back and runs each event alone
