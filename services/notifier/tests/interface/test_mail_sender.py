"""The mail sender against a real SMTP server: both languages, one connection, failures, crash recovery."""

import email
import email.policy
import io
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from notifier.delivery.models import Delivery
from notifier.delivery.rendering import Renderer
from notifier.delivery.sender import MailSender, SmtpSettings
from notifier.messaging.handlers import HANDLERS
from notifier.samples import PDF, account_registered, message_event
from polis.config import Secret
from polis.db import Database
from polis.events import Event
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, Opener
from polis.logging import JsonFormatter
from polis.testing import free_port
from prometheus_client import REGISTRY
from sqlalchemy import select, text, update


def queue(database: Database, event: Event) -> None:
    with database.transaction() as session:
        HANDLERS[event.type](session, event)


def only_delivery(database: Database) -> Delivery:
    with database.transaction() as session:
        return session.scalars(select(Delivery)).one()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log line of the test, formatted as production formats them (extras included)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("notifier"))
    # The test's own SMTP server logs whole messages at DEBUG: it plays the mail provider, not the notifier.
    handler.addFilter(lambda record: not record.name.startswith("mail.log"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def test_emails_in_both_languages_are_sent_over_one_connection(
    database: Database, mailbox, make_sender: Callable[[int], MailSender], link_event, link: str
) -> None:
    italian, english = link_event(language="it"), link_event(language="en")
    queue(database, italian)
    queue(database, english)

    assert make_sender(mailbox.port).send_due() == 2

    assert len({session for session, _raw in mailbox.messages}) == 1
    parsed = [
        email.message_from_bytes(raw, policy=email.policy.default) for _session, raw in mailbox.messages
    ]
    messages = {message["Message-ID"]: message for message in parsed}
    assert set(messages) == {f"<{italian.id}@polis>", f"<{english.id}@polis>"}
    assert "conferma" in messages[f"<{italian.id}@polis>"]["Subject"]
    assert "confirm" in messages[f"<{english.id}@polis>"]["Subject"]
    for message in messages.values():
        assert message["To"] == "mario.rossi@example.it"
        assert link in message.get_body(("plain",)).get_content()
        assert link in message.get_body(("html",)).get_content()
    with database.transaction() as session:
        states = set(session.scalars(select(Delivery.state)))
    assert states == {"sent"}


def test_a_permanent_refusal_marks_the_delivery_failed(
    database: Database, mailbox, make_sender: Callable[[int], MailSender], link_event
) -> None:
    mailbox.reply = "550 5.1.1 Mailbox unavailable"
    queue(database, link_event())

    make_sender(mailbox.port).send_due()

    delivery = only_delivery(database)
    assert (delivery.state, delivery.attempts) == ("failed", 1)
    assert "550" in delivery.last_error


def test_a_temporary_refusal_keeps_the_delivery_queued_for_later(
    database: Database, mailbox, make_sender: Callable[[int], MailSender], link_event
) -> None:
    mailbox.reply = "451 4.3.0 Try again later"
    queue(database, link_event())

    make_sender(mailbox.port).send_due()

    delivery = only_delivery(database)
    assert (delivery.state, delivery.attempts) == ("queued", 1)
    assert "451" in delivery.last_error


def test_a_refused_connection_keeps_the_delivery_queued_with_one_more_attempt_and_a_later_time(
    database: Database, make_sender: Callable[[int], MailSender], link_event
) -> None:
    queue(database, link_event())
    sender = make_sender(free_port())  # nothing listens there

    sender.send_due()

    delivery = only_delivery(database)
    assert (delivery.state, delivery.attempts) == ("queued", 1)
    assert "connect" in delivery.last_error
    # Not due again at once: a second pass right away finds nothing to do.
    assert sender.send_due() == 0
    with database.transaction() as session:
        session.execute(update(Delivery).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
    sender.send_due()
    assert only_delivery(database).attempts == 2


def test_a_delivery_left_sending_by_a_crashed_sender_is_sent_again_once_its_lease_expires(
    database: Database, mailbox, make_sender: Callable[[int], MailSender], link_event
) -> None:
    event = link_event()
    queue(database, event)
    with database.transaction() as session:  # what a sender that died mid-batch leaves behind
        session.execute(
            update(Delivery).values(state="sending", next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    make_sender(mailbox.port).send_due()

    assert only_delivery(database).state == "sent"
    [(_session, raw)] = mailbox.messages
    assert email.message_from_bytes(raw)["Message-ID"] == f"<{event.id}@polis>"


def test_a_delivery_being_sent_by_a_live_sender_is_left_alone(
    database: Database, mailbox, make_sender: Callable[[int], MailSender], link_event
) -> None:
    queue(database, link_event())
    with database.transaction() as session:
        session.execute(
            update(Delivery).values(state="sending", next_attempt_at=datetime.now(UTC) + timedelta(minutes=5))
        )

    assert make_sender(mailbox.port).send_due() == 0
    assert mailbox.messages == []


def test_the_link_never_appears_in_clear_in_the_deliveries_table_nor_in_the_logs(
    database: Database,
    mailbox,
    make_sender: Callable[[int], MailSender],
    link_event,
    link: str,
    log_lines: io.StringIO,
) -> None:
    queue(database, link_event())
    make_sender(mailbox.port).send_due()
    mailbox.reply = "550 5.1.1 Mailbox unavailable"
    queue(database, link_event())
    make_sender(mailbox.port).send_due()

    with database.transaction() as session:
        rows = session.execute(text("SELECT * FROM deliveries")).all()
    assert len(rows) == 2
    assert all(link not in str(row) for row in rows)
    assert "emails sent" in log_lines.getvalue()
    assert link not in log_lines.getvalue()
    assert "s3cr3t" not in log_lines.getvalue()


def test_the_outbound_rate_limit_spaces_messages_over_all_connections(
    database: Database, mailbox, link_event
) -> None:
    for _ in range(10):
        queue(database, link_event())
    sender = MailSender(
        db=database,
        smtp=SmtpSettings(
            host="127.0.0.1",
            port=mailbox.port,
            security="none",
            username="",
            password=Secret(""),
            timeout=5.0,
        ),
        renderer=Renderer(Opener({DEV_KEY_ID: DEV_PRIVATE_KEY})),
        mail_from="Istanze OnLine <noreply@istanze.localhost>",
        connections=2,
        flush_every=2,
        rate_limit=20.0,
    )

    started = time.monotonic()
    sender.send_due()
    elapsed = time.monotonic() - started
    sender.close()

    assert len(mailbox.messages) == 10
    assert len({session for session, _raw in mailbox.messages}) == 2  # two connections, kept open
    assert elapsed >= 9 / 20  # ten messages at 20 per second: nine intervals at least


def test_sent_failed_and_retried_are_counted_for_prometheus(
    database: Database, mailbox, make_sender: Callable[[int], MailSender], link_event
) -> None:
    def value(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"kind": "registration_confirmation"}) or 0.0

    before = {name: value(name) for name in ("notifier_emails_sent_total", "notifier_emails_failed_total")}
    before["notifier_emails_retried_total"] = value("notifier_emails_retried_total")
    queue(database, link_event())
    make_sender(mailbox.port).send_due()
    mailbox.reply = "550 5.1.1 Mailbox unavailable"
    queue(database, link_event())
    make_sender(mailbox.port).send_due()
    mailbox.reply = "451 4.3.0 Try again later"
    queue(database, link_event())
    make_sender(mailbox.port).send_due()

    for name in before:
        assert value(name) == before[name] + 1, name
    assert (REGISTRY.get_sample_value("notifier_email_lag_seconds_count") or 0) >= 1


def test_an_email_with_an_attachment_is_a_valid_mime_message(
    database: Database, mailbox, make_sender: Callable[[int], MailSender]
) -> None:
    registered = account_registered(language="en", institutional_email="m.rossi@istruzione.it")
    event = message_event("istanze.istanza_submitted", registered.data["account_id"])
    queue(database, registered)
    queue(database, event)

    make_sender(mailbox.port).send_due()

    [(_session, raw)] = mailbox.messages
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == "m.rossi@istruzione.it"
    assert message["Content-Language"] == "en"
    assert message["Subject"] == "Istanze OnLine: application submitted, reference AOODGPER-2027-0001234"
    assert "Mobilità" in message.get_body(("plain",)).get_content()
    assert "Mobilità" in message.get_body(("html",)).get_content()
    [pdf] = list(message.iter_attachments())
    assert (pdf.get_filename(), pdf.get_content()) == ("ricevuta-AOODGPER-2027-0001234.pdf", PDF)
