"""Test setup of the notifier: test settings, fresh databases, events as IAM sends them, an SMTP server."""

import os

os.environ["POLIS_ENV"] = "test"  # before any settings are read: development defaults stand in for secrets

from collections.abc import Callable, Iterator

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from notifier import create_app
from notifier.delivery.rendering import Renderer
from notifier.delivery.sender import MailSender, SmtpSettings
from notifier.extensions import db
from notifier.messaging.handlers import HANDLERS
from notifier.models import all_metadata
from notifier.samples import SECRETS, account_registered, message_event
from polis.config import Secret
from polis.db import Database
from polis.events import Event
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, Opener
from polis.testing import free_port
from polis.testing.apps import service_app
from polis.testing.tokens import TestIssuer

LINK_EVENT = "iam.registration_confirmation_requested"


@pytest.fixture
def link() -> str:
    """The clear confirmation link inside the sealed field of `link_event`."""
    return SECRETS["confirmation_url"]


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    all_metadata().create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    """IAM's part in these tests: it signs the access tokens, and its JWKS is handed to the app."""
    return TestIssuer()


@pytest.fixture
def app(database_url: str, issuer: TestIssuer) -> Iterator[Flask]:
    with service_app(
        create_app, db=db, metadata=all_metadata(), database_url=database_url, issuer=issuer
    ) as app:
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def link_event(database: Database) -> Callable[..., Event]:
    """An iam.registration_confirmation_requested event as IAM produces it (the link sealed for the
    notifier), for an account that is already in the read model in `language` with `email` as its
    personal address: the email whose link is a credential until it is used (D-ACC-3)."""

    def make(language: str = "it", email: str = "mario.rossi@example.it") -> Event:
        registered = account_registered(
            language=language, personal_email=email, state="awaiting_confirmation", username=None
        )
        with database.transaction() as session:
            HANDLERS[registered.type](session, registered)
        return message_event(LINK_EVENT, registered.data["account_id"])

    return make


class Mailbox:
    """An aiosmtpd handler that keeps accepted messages, or answers every message with `reply`."""

    def __init__(self) -> None:
        self.reply = "250 Message accepted for delivery"
        self.messages: list[tuple[int, bytes]] = []  # (SMTP session, raw message)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        if self.reply.startswith("250"):
            self.messages.append((id(session), envelope.content))  # type: ignore[attr-defined]
        return self.reply


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on a free port, for the length of one test."""
    handler = Mailbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


@pytest.fixture
def make_sender(database: Database) -> Callable[[int], MailSender]:
    def make(port: int) -> MailSender:
        return MailSender(
            db=database,
            smtp=SmtpSettings(
                host="127.0.0.1", port=port, security="none", username="", password=Secret(""), timeout=5.0
            ),
            renderer=Renderer(Opener({DEV_KEY_ID: DEV_PRIVATE_KEY})),
            mail_from="Istanze OnLine <noreply@istanze.localhost>",
        )

    return make
