"""Test setup of the notifier: test settings, fresh databases, events as IAM sends them, an SMTP server."""

import os

os.environ["POLIS_ENV"] = "test"  # before any settings are read: development defaults stand in for secrets

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from notifier import create_app
from notifier.delivery.rendering import Renderer
from notifier.delivery.sender import MailSender, SmtpSettings
from notifier.extensions import db
from notifier.models import all_metadata
from polis.config import Secret
from polis.db import Database
from polis.events import Event
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, DEV_PUBLIC_KEY, Opener, Sealer
from polis.testing import free_port
from polis.testing.tokens import TestIssuer

LINK = "http://localhost:8080/registrazione/conferma?token=s3cr3t-t0ken-in-the-link"


@pytest.fixture
def link() -> str:
    """The clear confirmation link inside the sealed field of `confirmation_event`."""
    return LINK


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
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F",
            "TOKEN_ISSUER": issuer.issuer,
            "TOKEN_JWKS": issuer.jwks(),
        }
    )
    all_metadata().create_all(db.engine)
    yield app
    db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def confirmation_event() -> Callable[..., Event]:
    """An iam.email_confirmation_requested event as IAM produces it: the link sealed for the notifier."""

    def make(language: str = "it", email: str = "mario.rossi@example.it") -> Event:
        data = {
            "confirmation_id": "6f1c1f0e-2d7a-4b8e-9a51-3c2f0a9b7d11",
            "email": email,
            "language": language,
            "confirmation_url": Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID).seal(LINK),
            "expires_at": (datetime.now(UTC) + timedelta(hours=24)).isoformat(),
        }
        return Event.new("iam.email_confirmation_requested", data, producer="iam")

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
