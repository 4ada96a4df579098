"""The mail sender loop: claims due deliveries, renders them and hands them to SMTP, one connection a batch.

Delivery is at least once. A sender that dies after the SMTP server accepted a message but before the row
was marked sent leaves the row `sending`; once its lease expires the row is sent again. That window is one
message per crashed sender (each row is marked sent right after its own SMTP transaction) and the
duplicate carries the same `Message-ID: <event_id@polis>`, so mail clients and operators can recognise it.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from polis import requestid
from polis.config import Secret
from polis.db import Database
from polis.events.sealing import Opener

from notifier.config import parse_private_keys
from notifier.delivery import service
from notifier.delivery.models import Delivery
from notifier.delivery.rendering import Renderer, RenderError

log = logging.getLogger("notifier.sender")

# Waits between attempts after a temporary failure: grows, then stays at an hour.
RETRY_DELAYS = (30.0, 120.0, 600.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # none | starttls | ssl
    username: str
    password: Secret
    timeout: float

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SmtpSettings:
        return cls(
            host=settings["SMTP_HOST"],
            port=settings["SMTP_PORT"],
            security=settings["SMTP_SECURITY"],
            username=settings["SMTP_USERNAME"],
            password=settings["SMTP_PASSWORD"],
            timeout=settings["SMTP_TIMEOUT"],
        )

    def connect(self) -> smtplib.SMTP:
        smtp_class = smtplib.SMTP_SSL if self.security == "ssl" else smtplib.SMTP
        connection = smtp_class(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                connection.starttls()
            if self.username:
                connection.login(self.username, self.password.reveal())
        except BaseException:
            connection.close()
            raise
        return connection


class TemporaryFailure(Exception):
    """Worth another attempt later: 4xx, a refused or broken connection, a timeout."""


class PermanentFailure(Exception):
    """Another attempt would fail the same way: 5xx."""


def _classify(error: Exception) -> Exception:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in error.recipients.values()]
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        reason = f"recipient refused: {codes}"
        return PermanentFailure(reason) if permanent else TemporaryFailure(reason)
    if isinstance(error, smtplib.SMTPResponseException):
        message = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else ""
        reason = f"SMTP {error.smtp_code} {message}".strip()
        return PermanentFailure(reason) if 500 <= error.smtp_code < 600 else TemporaryFailure(reason)
    return TemporaryFailure(_describe(error))


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


class MailSender:
    """Sends due deliveries; run(stop_event) loops, send_due() is one pass (tests call it directly)."""

    def __init__(
        self,
        *,
        db: Database,
        smtp: SmtpSettings,
        renderer: Renderer,
        mail_from: str,
        batch_size: int = 20,
        poll_interval: float = 1.0,
        max_attempts: int = 10,
        lease: timedelta = timedelta(minutes=10),
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self.db = db
        self.smtp = smtp
        self.renderer = renderer
        self.mail_from = mail_from
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.lease = lease
        self.retry_delays = tuple(retry_delays)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], db: Database) -> MailSender:
        return cls(
            db=db,
            smtp=SmtpSettings.from_settings(settings),
            renderer=Renderer(Opener(parse_private_keys(settings["SEALING_PRIVATE_KEYS"]))),
            mail_from=settings["MAIL_FROM"],
            batch_size=settings["SEND_BATCH_SIZE"],
            poll_interval=settings["SEND_POLL_INTERVAL"],
            max_attempts=settings["SEND_MAX_ATTEMPTS"],
            lease=timedelta(seconds=settings["SENDING_LEASE_SECONDS"]),
        )

    def run(self, stop_event: threading.Event) -> None:
        while not stop_event.is_set():
            try:
                sent = self.send_due()
            except Exception:
                # The database is away: keep the loop (and the worker) alive and try again shortly.
                log.exception("sending pass failed")
                sent = 0
            if sent == 0:
                stop_event.wait(self.poll_interval)

    def send_due(self) -> int:
        """Send one batch of due deliveries; the number of deliveries handled (whatever their outcome)."""
        batch = service.claim_due(db=self.db, limit=self.batch_size, lease=self.lease)
        connection: smtplib.SMTP | None = None
        try:
            for index, delivery in enumerate(batch):
                # Log lines about this delivery carry the id of the request that caused it.
                with requestid.bind(delivery.correlation_id):
                    try:
                        message = self.compose(delivery)
                    except RenderError as error:
                        self._record_failure([delivery], PermanentFailure(str(error)))
                        continue
                    if connection is None:
                        try:
                            connection = self.smtp.connect()
                        except (smtplib.SMTPException, OSError) as error:
                            # The server is unreachable or refuses us, whoever the recipient: the rest of the
                            # batch would wait out the same timeout, so it is deferred as a whole.
                            self._record_failure(
                                batch[index:], TemporaryFailure(f"connect: {_describe(error)}")
                            )
                            break
                    connection = self._send(connection, delivery, message)
        finally:
            if connection is not None:
                _quit_quietly(connection)
        return len(batch)

    def _send(
        self, connection: smtplib.SMTP, delivery: Delivery, message: EmailMessage
    ) -> smtplib.SMTP | None:
        """Send one message and record the outcome; returns the connection to reuse, None when broken."""
        try:
            connection.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            self._record_failure([delivery], _classify(error))
            # After a refused recipient or message the session is still usable; otherwise start afresh.
            if isinstance(error, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
                return connection
            _quit_quietly(connection)
            return None
        service.mark_sent(db=self.db, delivery_id=delivery.id)
        log.info("email sent", extra={"delivery_id": str(delivery.id), "kind": delivery.kind})
        return connection

    def compose(self, delivery: Delivery) -> EmailMessage:
        rendered = self.renderer.render(
            kind=delivery.kind, language=delivery.language, payload=delivery.payload
        )
        message = EmailMessage()
        message["Subject"] = rendered.subject
        message["From"] = self.mail_from
        message["To"] = delivery.recipient
        message["Date"] = formatdate(localtime=False)
        # Deterministic: a resend after a crash is recognisable as the same message.
        message["Message-ID"] = f"<{delivery.event_id}@polis>"
        message["Content-Language"] = delivery.language
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        return message

    def _record_failure(self, deliveries: Sequence[Delivery], failure: Exception) -> None:
        ids = [delivery.id for delivery in deliveries]
        extra = {"delivery_ids": ",".join(map(str, ids)), "reason": str(failure)}
        if isinstance(failure, PermanentFailure):
            log.warning("email failed permanently", extra=extra)
            for delivery_id in ids:
                service.mark_failed(db=self.db, delivery_id=delivery_id, error=str(failure))
        else:
            log.warning("email deferred", extra=extra)
            service.mark_retry(
                db=self.db,
                delivery_ids=ids,
                error=str(failure),
                delays=self.retry_delays,
                max_attempts=self.max_attempts,
            )


def _quit_quietly(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
