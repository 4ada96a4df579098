"""STARTTLS with a verified certificate and a login: the password and the emails never cross in clear."""

import datetime as dt
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from notifier.delivery.models import Delivery
from notifier.delivery.rendering import Renderer
from notifier.delivery.sender import MailSender, SmtpSettings
from notifier.messaging.handlers import HANDLERS
from polis.config import Secret
from polis.db import Database
from polis.events import Event
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, Opener
from polis.testing import free_port
from sqlalchemy import select

PASSWORD = "relay-password-123"


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test relay")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "relay.pem", directory / "relay.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class Relay:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"

    def authenticate(
        self, server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        login, password = data.login.decode(), data.password.decode()  # type: ignore[attr-defined]
        self.logins.append(login)
        return AuthResult(success=login == "notifier" and password == PASSWORD)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[Relay, int, Path]]:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Relay()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=handler.authenticate,
        auth_required=True,
    )
    controller.start()
    yield handler, controller.port, cert
    controller.stop()


def sender(database: Database, port: int, ca_file: str) -> MailSender:
    return MailSender(
        db=database,
        smtp=SmtpSettings(
            host="127.0.0.1",
            port=port,
            security="starttls",
            username="notifier",
            password=Secret(PASSWORD),
            timeout=5.0,
            ca_file=ca_file,
        ),
        renderer=Renderer(Opener({DEV_KEY_ID: DEV_PRIVATE_KEY})),
        mail_from="Istanze OnLine <noreply@istanze.localhost>",
    )


def states(database: Database) -> list[tuple[str, str | None]]:
    with database.transaction() as session:
        return [(d.state, d.last_error) for d in session.scalars(select(Delivery))]


def test_starttls_with_a_trusted_certificate_and_a_login_delivers(
    database: Database, relay: tuple[Relay, int, Path], link_event: Callable[..., Event]
) -> None:
    handler, port, cert = relay
    event = link_event()
    with database.transaction() as session:
        HANDLERS[event.type](session, event)

    sender(database, port, str(cert)).send_due()

    assert len(handler.messages) == 1 and handler.logins == ["notifier"]
    assert states(database) == [("sent", None)]


def test_a_relay_whose_certificate_is_not_trusted_gets_nothing(
    database: Database, relay: tuple[Relay, int, Path], link_event: Callable[..., Event]
) -> None:
    handler, port, _cert = relay
    event = link_event()
    with database.transaction() as session:
        HANDLERS[event.type](session, event)

    sender(database, port, "").send_due()  # only the system's CAs: the self-signed relay is refused

    assert handler.messages == [] and handler.logins == []
    [(state, error)] = states(database)
    assert state == "queued" and "CERTIFICATE_VERIFY_FAILED" in (error or "")
