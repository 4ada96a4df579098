"""The accounts read model and the recipient policy (D-ACC-8), through the consumer's handlers."""

import uuid

import pytest
from notifier.accounts.models import Account
from notifier.accounts.service import UnknownAccount
from notifier.delivery.models import Delivery
from notifier.messaging.handlers import HANDLERS, UndeliverableMessage
from notifier.samples import account_registered, attachment, message_event
from polis.db import Database
from polis.events import Event
from sqlalchemy import select

PERSONAL = "mario.rossi@example.org"
INSTITUTIONAL = "mario.rossi@istruzione.it"


def handle(database: Database, *events: Event) -> None:
    for event in events:
        with database.transaction() as session:
            HANDLERS[event.type](session, event)


def delivery_for(database: Database, event: Event) -> Delivery:
    with database.transaction() as session:
        return session.scalars(select(Delivery).where(Delivery.event_id == uuid.UUID(event.id))).one()


@pytest.fixture
def mi_account(database: Database) -> str:
    """An MI account with both addresses, in English."""
    registered = account_registered(kind="mi", language="en", institutional_email=INSTITUTIONAL)
    handle(database, registered)
    return registered.data["account_id"]


@pytest.mark.parametrize(
    "event_type",
    [
        "iam.username_reminder_requested",
        "iam.temporary_password_issued",
        "iam.registration_attempted_for_existing_account",
    ],
)
def test_recovery_messages_go_to_every_address_d_acc_8(
    database: Database, mi_account: str, event_type: str
) -> None:
    event = message_event(event_type, mi_account)
    handle(database, event)

    delivery = delivery_for(database, event)
    assert delivery.recipients == [INSTITUTIONAL, PERSONAL]
    assert delivery.language == "en"
    assert str(delivery.account_id) == mi_account


@pytest.mark.parametrize(
    "event_type",
    ["iam.password_changed", "enablement.requested", "istanze.istanza_submitted", "iam.revocation_announced"],
)
def test_other_messages_go_to_the_institutional_reference_address_d_acc_8(
    database: Database, mi_account: str, event_type: str
) -> None:
    event = message_event(event_type, mi_account)
    handle(database, event)

    assert delivery_for(database, event).recipients == [INSTITUTIONAL]


def test_without_an_institutional_address_the_personal_one_is_the_reference(database: Database) -> None:
    registered = account_registered()
    event = message_event("iam.password_changed", registered.data["account_id"])
    handle(database, registered, event)

    assert delivery_for(database, event).recipients == [PERSONAL]


def test_the_registration_confirmation_goes_to_the_personal_email_being_registered(
    database: Database,
) -> None:
    registered = account_registered(
        state="awaiting_confirmation", username=None, personal_email="new@example.org"
    )
    event = message_event("iam.registration_confirmation_requested", registered.data["account_id"])
    handle(database, registered, event)

    assert delivery_for(database, event).recipients == ["new@example.org"]


def test_the_verification_link_goes_to_the_address_being_verified(
    database: Database, mi_account: str
) -> None:
    event = message_event("iam.email_verification_requested", mi_account)
    handle(database, event)

    assert delivery_for(database, event).recipients == ["nuovo.indirizzo@example.org"]


def test_the_read_model_follows_the_account_facts(database: Database) -> None:
    registered = account_registered(state="awaiting_confirmation", username=None)
    account_id = registered.data["account_id"]
    facts = [
        Event.new(
            "iam.account_activated",
            {
                "account_id": account_id,
                "username": "mario.rossi2",
                "activated_at": "2026-11-23T10:00:00+00:00",
            },
            producer="iam",
        ),
        Event.new(
            "iam.account_profile_changed",
            {"account_id": account_id, "first_name": "Maria", "last_name": "Bianchi", "language": "en"},
            producer="iam",
        ),
        Event.new(
            "iam.personal_email_changed",
            {"account_id": account_id, "personal_email": "maria@example.org"},
            producer="iam",
        ),
        Event.new(
            "iam.institutional_email_set",
            {"account_id": account_id, "institutional_email": "maria@istruzione.it"},
            producer="iam",
        ),
    ]
    handle(database, registered, *facts)

    with database.transaction() as session:
        account = session.get(Account, uuid.UUID(account_id))
        assert account is not None
        assert (account.state, account.username, account.first_name, account.language) == (
            "active",
            "mario.rossi2",
            "Maria",
            "en",
        )
        assert account.all_addresses() == ["maria@istruzione.it", "maria@example.org"]
    # The activation is also the "username after registration" email, with the username it brought.
    activation = delivery_for(database, facts[0])
    assert activation.kind == "username_after_registration"
    assert activation.payload["account"]["username"] == "mario.rossi2"


def test_the_revocation_notice_still_reaches_the_user_and_nothing_after_it(
    database: Database, mi_account: str
) -> None:
    revoked = message_event("iam.account_revoked", mi_account)
    later = message_event("iam.password_changed", mi_account)
    handle(database, revoked, later)

    notice = delivery_for(database, revoked)
    assert (notice.state, notice.recipients) == ("queued", [INSTITUTIONAL])
    after = delivery_for(database, later)
    assert after.state == "failed" and "revoked" in (after.last_error or "")
    with database.transaction() as session:
        assert session.get(Account, uuid.UUID(mi_account)).revoked  # type: ignore[union-attr]


def test_a_message_for_an_unknown_account_raises_so_the_consumer_retries_then_parks_it(
    database: Database,
) -> None:
    with pytest.raises(UnknownAccount):
        handle(database, message_event("iam.password_changed", str(uuid.uuid4())))
    with database.transaction() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_an_oversized_or_broken_attachment_is_refused_by_the_handler(
    database: Database, mi_account: str, monkeypatch
) -> None:
    event = message_event("istanze.istanza_submitted", mi_account)
    event.data["receipt"] = attachment("ricevuta.pdf", b"x" * 100)
    monkeypatch.setattr("notifier.messaging.handlers.ATTACHMENT_MAX_BYTES", 10)
    with pytest.raises(UndeliverableMessage, match="over 10"):
        handle(database, event)
    broken = message_event("enablement.requested", mi_account)
    broken.data["adhesion_form"]["content_base64"] = "abc"
    with pytest.raises(UndeliverableMessage, match="base64"):
        handle(database, broken)


def test_the_same_event_twice_queues_one_delivery(database: Database, mi_account: str) -> None:
    event = message_event("iam.password_changed", mi_account)
    handle(database, event, event)

    with database.transaction() as session:
        assert len(session.scalars(select(Delivery)).all()) == 1
