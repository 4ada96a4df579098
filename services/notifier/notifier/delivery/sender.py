"""The mail sender loop: claims due deliveries, renders them, hands them to SMTP over kept-open connections.

Exactly once in effect, as far as SMTP allows. A delivery is claimed (`sending`, a fresh claim token, a
lease) in one statement, so two senders (threads, processes, hosts) never hold the same row; after the SMTP
server accepts a message the row is marked `sent`, in groups of at most `flush_every` per connection. A
sender that dies leaves its claimed rows `sending`; once the lease runs out another sender (or the same one
restarted) sends them. What SMTP cannot give: a sender killed between the server's "250" and the commit of
that group leaves up to `flush_every` messages per connection to be sent again; every copy carries the same
`Message-ID: <event_id@polis>`, so mail clients and operators can recognise it.
"""

from __future__ import annotations

import logging
import os
import signal
import smtplib
import ssl
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from polis import requestid
from polis.config import Secret
from polis.db import Database
from polis.events.sealing import Opener

from notifier import metrics
from notifier.config import parse_private_keys
from notifier.delivery import mime, service
from notifier.delivery.models import Delivery
from notifier.delivery.rendering import Branding, Renderer, RenderError
from notifier.messaging.catalogue import MESSAGES

log = logging.getLogger("notifier.sender")

# Waits between attempts after a temporary failure: grows, then stays at an hour.
RETRY_DELAYS = (30.0, 120.0, 600.0, 1800.0, 3600.0)
ATTACHMENTS = {message.kind: message.attachments for message in MESSAGES.values()}
# A connection idle for longer is checked with NOOP before use: servers close idle sessions.
IDLE_CHECK_SECONDS = 5.0
# Test-only fault (POLIS_ENV=test): SIGKILL the worker right after the first group of a batch is recorded,
# with the rest of the batch claimed and unsent: the crash-mid-batch test's deterministic moment.
FAULT_KILL_MID_BATCH = "notifier_kill_mid_batch"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # none | starttls | ssl
    username: str
    password: Secret
    timeout: float
    # Certificates to trust besides the system's (a private relay's CA); the server's name is checked.
    ca_file: str = ""

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SmtpSettings:
        return cls(
            host=settings["SMTP_HOST"],
            port=settings["SMTP_PORT"],
            security=settings["SMTP_SECURITY"],
            username=settings["SMTP_USERNAME"],
            password=settings["SMTP_PASSWORD"],
            timeout=settings["SMTP_TIMEOUT"],
            ca_file=settings["SMTP_CA_FILE"],
        )

    def tls_context(self) -> ssl.SSLContext:
        # Verified, unlike smtplib's default context for starttls(): the password and the secrets in the
        # emails must not go to whoever answers on the relay's address.
        return ssl.create_default_context(cafile=self.ca_file or None)

    def connect(self) -> smtplib.SMTP:
        connection: smtplib.SMTP
        if self.security == "ssl":
            connection = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.tls_context()
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                connection.starttls(context=self.tls_context())
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
        reason = f"{error.smtp_code} {_text(error.smtp_error)}"
        return PermanentFailure(reason) if 500 <= error.smtp_code < 600 else TemporaryFailure(reason)
    return TemporaryFailure(_describe(error))


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


class RateLimiter:
    """At most `rate` acquisitions per second over every thread (0: no limit), evenly spaced."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            at = max(self._next, now)
            self._next = at + self.interval
        if at > now:
            time.sleep(at - now)


class _Slot:
    """One kept-open SMTP connection, used by one thread at a time."""

    def __init__(self) -> None:
        self.connection: smtplib.SMTP | None = None
        self.last_used = 0.0

    def close(self) -> None:
        if self.connection is not None:
            _quit_quietly(self.connection)
            self.connection = None


class MailSender:
    """Sends due deliveries; run(stop_event) loops, send_due() is one pass (tests call it directly)."""

    def __init__(
        self,
        *,
        db: Database,
        smtp: SmtpSettings,
        renderer: Renderer,
        mail_from: str,
        batch_size: int = 100,
        connections: int = 1,
        rate_limit: float = 0.0,
        flush_every: int = 10,
        poll_interval: float = 1.0,
        max_attempts: int = 50,
        lease: timedelta = timedelta(minutes=10),
        retry_delays: Sequence[float] = RETRY_DELAYS,
        retry_for: timedelta = timedelta(hours=48),
    ) -> None:
        self.db = db
        self.smtp = smtp
        self.renderer = renderer
        self.mail_from = mail_from
        self.envelope_from = parseaddr(mail_from)[1]
        self._from_header = mime.encode_address(mail_from)
        self.batch_size = batch_size
        self.flush_every = flush_every
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.lease = lease
        self.retry_delays = tuple(retry_delays)
        self.retry_for = retry_for
        self.limiter = RateLimiter(rate_limit)
        self._slots = [_Slot() for _ in range(max(1, connections))]
        self._pool: ThreadPoolExecutor | None = None
        self._fault = os.environ.get("POLIS_FAULT") if os.environ.get("POLIS_ENV") == "test" else None
        # The worker process this sender belongs to (its parent when the sender runs in a child process):
        # the kill-mid-batch fault kills it, as a crash of the worker would.
        self.worker_pid = os.getpid()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], db: Database) -> MailSender:
        return cls(
            db=db,
            smtp=SmtpSettings.from_settings(settings),
            renderer=Renderer(
                Opener(parse_private_keys(settings["SEALING_PRIVATE_KEYS"])), Branding.from_settings(settings)
            ),
            mail_from=settings["MAIL_FROM"],
            batch_size=settings["SEND_BATCH_SIZE"],
            connections=settings["SMTP_CONNECTIONS"],
            rate_limit=settings["SEND_RATE_LIMIT"],
            flush_every=settings["SENT_FLUSH_EVERY"],
            poll_interval=settings["SEND_POLL_INTERVAL"],
            max_attempts=settings["SEND_MAX_ATTEMPTS"],
            lease=timedelta(seconds=settings["SENDING_LEASE_SECONDS"]),
            retry_delays=settings["SEND_RETRY_DELAYS"],
            retry_for=timedelta(seconds=settings["SEND_RETRY_FOR_SECONDS"]),
        )

    def run(self, stop_event: threading.Event) -> None:
        try:
            while not stop_event.is_set():
                try:
                    handled = self.send_due()
                except Exception:
                    # The database is away: keep the loop (and the worker) alive and try again shortly.
                    log.exception("sending pass failed")
                    handled = 0
                if handled < self.batch_size:
                    stop_event.wait(self.poll_interval if handled == 0 else 0.01)
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for slot in self._slots:
            slot.close()

    def send_due(self) -> int:
        """Send one batch of due deliveries; the number of deliveries handled (whatever their outcome)."""
        token, batch = service.claim_due(db=self.db, limit=self.batch_size, lease=self.lease)
        if not batch:
            return 0
        # Round-robin over the connections; a short batch uses fewer of them. Each share is rendered in its
        # own thread, so that rendering one message overlaps with waiting for the server on another.
        count = min(len(self._slots), max(1, len(batch) // self.flush_every))
        shares = [batch[index::count] for index in range(count)]
        if count == 1:
            self._send_share(self._slots[0], token, shares[0], first=True)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(len(self._slots), thread_name_prefix="smtp")
            futures = [
                self._pool.submit(self._send_share, self._slots[index], token, share, first=index == 0)
                for index, share in enumerate(shares)
            ]
            for future in futures:
                future.result()
        return len(batch)

    def _send_share(self, slot: _Slot, token: str, share: list[Delivery], *, first: bool) -> None:
        accepted: list[Delivery] = []
        for index, delivery in enumerate(share):
            with requestid.bind(delivery.correlation_id):
                try:
                    message = self.compose(delivery)
                except RenderError as error:
                    self._record_failure(token, [delivery], PermanentFailure(str(error)))
                    continue
                try:
                    connection = self._connection(slot)
                except (smtplib.SMTPException, OSError) as error:
                    # The server is unreachable or refuses us, whoever the recipient: the rest of this share
                    # would wait out the same timeout, so it is deferred as a whole.
                    self._flush(token, accepted)
                    self._record_failure(
                        token, share[index:], TemporaryFailure(f"connect: {_describe(error)}")
                    )
                    return
                self.limiter.acquire()
                try:
                    refused = connection.sendmail(self.envelope_from, delivery.recipients, message)
                except (smtplib.SMTPException, OSError) as error:
                    self._record_failure(token, [delivery], _classify(error))
                    # After a refused recipient or message the session is still usable; else start afresh.
                    if not isinstance(error, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
                        slot.close()
                    continue
                slot.last_used = time.monotonic()
                if refused:
                    log.warning(
                        "some recipients refused",
                        extra={"delivery_id": str(delivery.id), "refused": len(refused)},
                    )
                accepted.append(delivery)
            if len(accepted) >= self.flush_every:
                self._flush(token, accepted)
                accepted = []
                if first and self._fault == FAULT_KILL_MID_BATCH and index + 1 < len(share):
                    os.kill(self.worker_pid, signal.SIGKILL)
                    os.kill(os.getpid(), signal.SIGKILL)
        self._flush(token, accepted)

    def _connection(self, slot: _Slot) -> smtplib.SMTP:
        if slot.connection is not None and time.monotonic() - slot.last_used > IDLE_CHECK_SECONDS:
            try:
                code, _ = slot.connection.noop()
                if code != 250:
                    slot.close()
            except (smtplib.SMTPException, OSError):
                slot.close()
        if slot.connection is None:
            slot.connection = self.smtp.connect()
            slot.last_used = time.monotonic()
        return slot.connection

    def _flush(self, token: str, accepted: list[Delivery]) -> None:
        if not accepted:
            return
        service.mark_sent(db=self.db, token=token, delivery_ids=[delivery.id for delivery in accepted])
        now = datetime.now(UTC)
        for delivery in accepted:
            metrics.SENT.labels(delivery.kind).inc()
            if delivery.occurred_at is not None:
                occurred = delivery.occurred_at
                if occurred.tzinfo is None:
                    occurred = occurred.replace(tzinfo=UTC)
                metrics.LAG.observe((now - occurred).total_seconds())
        log.info(
            "emails sent",
            extra={"count": len(accepted), "kinds": ",".join(sorted({d.kind for d in accepted}))},
        )

    def compose(self, delivery: Delivery) -> bytes:
        """The email as bytes for SMTP DATA (multipart: text and HTML, then the attachments)."""
        rendered = self.renderer.render(
            kind=delivery.kind,
            language=delivery.language,
            payload=delivery.payload,
            attachments=ATTACHMENTS.get(delivery.kind, ()),
        )
        return mime.build(
            rendered=rendered,
            mail_from=self._from_header,
            recipients=delivery.recipients,
            # Deterministic: a resend after a crash is recognisable as the same message.
            message_id=f"<{delivery.event_id}@polis>",
            language=delivery.language,
            boundary_seed=delivery.event_id.hex,
        )

    def _record_failure(self, token: str, deliveries: Sequence[Delivery], failure: Exception) -> None:
        ids: list[uuid.UUID] = [delivery.id for delivery in deliveries]
        kinds = {delivery.id: delivery.kind for delivery in deliveries}
        extra = {"delivery_ids": ",".join(map(str, ids)), "reason": str(failure)}
        if isinstance(failure, PermanentFailure):
            log.warning("email failed permanently", extra=extra)
            service.mark_failed(db=self.db, token=token, delivery_ids=ids, error=str(failure))
            for delivery in deliveries:
                metrics.FAILED.labels(delivery.kind).inc()
            return
        log.warning("email deferred", extra=extra)
        gave_up = service.mark_retry(
            db=self.db,
            token=token,
            delivery_ids=ids,
            error=str(failure),
            delays=self.retry_delays,
            max_attempts=self.max_attempts,
            retry_for=self.retry_for,
        )
        for delivery_id in ids:
            counter = metrics.FAILED if delivery_id in gave_up else metrics.RETRIED
            counter.labels(kinds[delivery_id]).inc()


def _quit_quietly(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
