"""The outbox relay: publishes unsent rows with asynchronous publisher confirms, then marks them sent."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pika
import pika.channel
import pika.frame
import pika.spec
from prometheus_client import Counter, Gauge
from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.orm import Session

from polis.db import Database
from polis.events import broker

log = logging.getLogger("polis.events.relay")

PUBLISHED = Counter("polis_outbox_published", "Outbox events confirmed by the broker")
FAILURES = Counter("polis_outbox_failures", "Outbox publishes nacked or returned by the broker")
BACKLOG = Gauge("polis_outbox_backlog", "Unsent outbox rows at the last count")

INITIAL_BACKOFF = 0.5
BACKLOG_EVERY = 5.0
STOP_GRACE = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Batch:
    """Rows published and waiting for their confirms; on PostgreSQL `session` holds their row locks."""

    session: Session | None
    started: float
    rows: dict[int, int] = field(default_factory=dict)  # delivery tag -> outbox id
    by_event: dict[str, int] = field(default_factory=dict)  # event id -> outbox id
    acked: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # outbox id -> reason
    full: bool = False

    @property
    def done(self) -> bool:
        return not self.rows


class Relay:
    """Publishes the outbox of one database; run() blocks until stop_event is set.

    At least once: a row is marked sent only after the broker confirmed it, so a crash between the
    confirm and the mark republishes it, and consumers drop the duplicate by event id.
    """

    def __init__(
        self,
        *,
        db: Database,
        table: Table,
        broker_url: str,
        stop_event: threading.Event,
        batch_size: int = 500,
        poll_interval: float = 0.2,
        max_backoff: float = 30.0,
        retention: timedelta = timedelta(days=7),
        confirm_timeout: float = 30.0,
        purge_interval: float = 300.0,
    ) -> None:
        self.db = db
        self.table = table
        self.broker_url = broker_url
        self.stop_event = stop_event
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.retention = retention
        self.confirm_timeout = confirm_timeout
        self.purge_interval = purge_interval
        self._connection: pika.SelectConnection | None = None
        self._channel: pika.channel.Channel | None = None
        self._batch: _Batch | None = None
        self._next_tag = 0
        self._confirm_timer: object | None = None
        self._db_backoff = INITIAL_BACKOFF
        self._last_purge = 0.0
        self._last_backlog = 0.0
        self._connected = False

    # -- main loop ------------------------------------------------------------------------------------

    def run(self) -> None:
        """Publish until stop_event is set, reconnecting with growing back-off after broker outages."""
        with self._single_relay_lock():
            backoff = INITIAL_BACKOFF
            while not self.stop_event.is_set():
                self._connected = False
                try:
                    self._run_connection()
                except Exception:
                    log.exception("relay connection failed", extra={"event": "relay_error"})
                finally:
                    self._abandon_batch()
                if self._connected:
                    backoff = INITIAL_BACKOFF
                if self.stop_event.is_set():
                    break
                log.warning("broker unavailable, retrying in %.1fs", backoff, extra={"backoff": backoff})
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    @contextmanager
    def _single_relay_lock(self) -> Iterator[None]:
        # SQLite has no SKIP LOCKED: one relay per database file, enforced by a lock file next to it.
        path = self.db.sqlite_path
        if not path or path == ":memory:":
            yield
            return
        fd = os.open(path + ".relay.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            waiting_logged = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waiting_logged:
                        log.info("another relay holds %s.relay.lock; waiting", path)
                        waiting_logged = True
                    if self.stop_event.wait(0.2):
                        return
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _run_connection(self) -> None:
        self._connection = pika.SelectConnection(
            broker.connection_parameters(self.broker_url),
            on_open_callback=self._on_connection_open,
            on_open_error_callback=self._on_connection_open_error,
            on_close_callback=self._on_connection_closed,
        )
        try:
            self._connection.ioloop.start()
        finally:
            self._connection = None
            self._channel = None

    # -- connection and channel callbacks -------------------------------------------------------------

    def _on_connection_open(self, connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_connection_open_error(self, connection: pika.SelectConnection, error: BaseException) -> None:
        log.warning("cannot connect to the broker: %s", error)
        connection.ioloop.stop()

    def _on_connection_closed(self, connection: pika.SelectConnection, reason: BaseException) -> None:
        if not self.stop_event.is_set():
            log.warning("broker connection closed: %s", reason)
        self._abandon_batch()
        connection.ioloop.stop()

    def _on_channel_open(self, channel: pika.channel.Channel) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_returned)
        channel.confirm_delivery(self._on_confirm, callback=lambda _frame: self._declare(channel))
        self._next_tag = 0

    def _on_channel_closed(self, channel: pika.channel.Channel, reason: BaseException) -> None:
        # A channel error (e.g. a topology mismatch) is handled like a lost connection: start over.
        if self._connection is not None and self._connection.is_open:
            log.warning("relay channel closed: %s", reason)
            self._connection.close()

    def _declare(self, channel: pika.channel.Channel) -> None:
        """The same topology as broker.declare_exchanges, as a chain of asynchronous calls."""

        def declare_unrouted(_frame: Any = None) -> None:
            channel.exchange_declare(
                broker.UNROUTED_EXCHANGE, exchange_type="fanout", durable=True, callback=declare_queue
            )

        def declare_queue(_frame: Any) -> None:
            channel.queue_declare(broker.UNROUTED_QUEUE, durable=True, callback=bind_queue)

        def bind_queue(_frame: Any) -> None:
            channel.queue_bind(broker.UNROUTED_QUEUE, broker.UNROUTED_EXCHANGE, callback=declare_events)

        def declare_events(_frame: Any) -> None:
            channel.exchange_declare(
                broker.EXCHANGE,
                exchange_type="topic",
                durable=True,
                arguments={"alternate-exchange": broker.UNROUTED_EXCHANGE},
                callback=ready,
            )

        def ready(_frame: Any) -> None:
            self._connected = True
            log.info("relay connected", extra={"event": "relay_connected"})
            self._schedule(0, self._tick)

        declare_unrouted()

    # -- polling and publishing -------------------------------------------------------------------------

    def _schedule(self, delay: float, callback: Any) -> Any:
        assert self._connection is not None
        return self._connection.ioloop.call_later(delay, callback)

    def _tick(self) -> None:
        """Runs on the I/O loop: stop, or start the next batch when none is in flight."""
        if self._connection is None or not self._connection.is_open:
            return
        stopping = self.stop_event.is_set()
        if stopping and (self._batch is None or time.monotonic() - self._batch.started > STOP_GRACE):
            self._connection.close()
            return
        if self._batch is None and not self.stop_event.is_set():
            delay = self._start_batch()
        else:
            delay = self.poll_interval
        self._schedule(delay, self._tick)

    def _start_batch(self) -> float:
        """Claim and publish a batch; return the delay before the next tick."""
        try:
            self._housekeeping()
            self._claim_and_publish()
        except Exception as error:
            if not _is_database_error(error):
                raise
            self._abandon_batch()
            delay = self._db_backoff
            self._db_backoff = min(self._db_backoff * 2, self.max_backoff)
            log.warning("database unavailable, retrying in %.1fs: %s", delay, error)
            return delay
        self._db_backoff = INITIAL_BACKOFF
        # A full batch schedules the next one itself as soon as its confirms are in (_finish_batch).
        return self.poll_interval

    def _claimable(self) -> Any:
        table = self.table
        return (
            select(table.c.id, table.c.event_id, table.c.event_type, table.c.payload)
            .where(table.c.sent_at.is_(None))
            .where(or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= _now()))
            .order_by(table.c.id)
            .limit(self.batch_size)
        )

    def _claim_and_publish(self) -> int:
        if self.db.is_sqlite:
            # The file lock makes this relay the only one, so the rows need no lock: read them in a short
            # transaction and let writers go on while the confirms come in.
            with self.db.transaction() as session:
                rows = session.execute(self._claimable()).all()
            batch = _Batch(session=None, started=time.monotonic())
        else:
            session = self.db.session()
            session.begin()
            try:
                # The transaction stays open until the confirms arrive; its row locks keep other relays
                # off these rows, and SKIP LOCKED lets them take the next ones.
                rows = session.execute(self._claimable().with_for_update(skip_locked=True)).all()
            except Exception:
                session.rollback()
                session.close()
                raise
            if not rows:
                session.rollback()
                session.close()
            batch = _Batch(session=session, started=time.monotonic())
        if not rows:
            return 0
        assert self._channel is not None
        self._batch = batch
        batch.full = len(rows) >= self.batch_size
        for row in rows:
            envelope = json.loads(row.payload)
            properties = pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent.value,
                content_type="application/json",
                message_id=row.event_id,
                type=row.event_type,
                correlation_id=envelope.get("correlation_id"),
                headers={broker.HEADER_VERSION: envelope.get("version", 1)},
            )
            self._channel.basic_publish(
                broker.EXCHANGE, row.event_type, row.payload.encode(), properties, mandatory=True
            )
            self._next_tag += 1
            batch.rows[self._next_tag] = row.id
            batch.by_event[row.event_id] = row.id
        self._confirm_timer = self._schedule(self.confirm_timeout, self._on_confirm_timeout)
        return len(rows)

    def _on_returned(
        self,
        _channel: pika.channel.Channel,
        method: pika.spec.Basic.Return,
        properties: pika.spec.BasicProperties,
        _body: bytes,
    ) -> None:
        # A return precedes the message's ack: remember it so the ack does not mark the row sent.
        batch = self._batch
        if batch is not None and properties.message_id in batch.by_event:
            batch.failed[batch.by_event[properties.message_id]] = f"returned: {method.reply_text}"

    def _on_confirm(self, frame: pika.frame.Method) -> None:
        batch = self._batch
        if batch is None:
            return
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tag = method.delivery_tag
        tags = [t for t in batch.rows if t <= tag] if method.multiple else [tag]
        for t in tags:
            outbox_id = batch.rows.pop(t, None)
            if outbox_id is None:
                continue
            if not acked:
                batch.failed.setdefault(outbox_id, "nacked by the broker")
            elif outbox_id not in batch.failed:
                batch.acked.append(outbox_id)
        if batch.done:
            self._finish_batch()

    def _on_confirm_timeout(self) -> None:
        self._confirm_timer = None
        if self._batch is not None and self._connection is not None and self._connection.is_open:
            log.error("no publisher confirms within %.0fs; reconnecting", self.confirm_timeout)
            self._connection.close()

    def _finish_batch(self) -> None:
        batch = self._batch
        assert batch is not None
        if self._confirm_timer is not None and self._connection is not None:
            self._connection.ioloop.remove_timeout(self._confirm_timer)
            self._confirm_timer = None
        try:
            if batch.session is not None:
                self._mark(batch.session, batch)
                batch.session.commit()
            else:
                with self.db.transaction() as session:
                    self._mark(session, batch)
        except Exception as error:
            if not _is_database_error(error):
                raise
            # Published but not marked: the rows go out again later and consumers drop the duplicates.
            log.warning("could not mark published rows as sent: %s", error)
        else:
            PUBLISHED.inc(len(batch.acked))
            FAILURES.inc(len(batch.failed))
        finally:
            if batch.session is not None:
                batch.session.close()
            self._batch = None
        if batch.full and self._connection is not None and not self.stop_event.is_set():
            self._schedule(0, self._start_next_now)

    def _start_next_now(self) -> None:
        if self._batch is None and self._connection is not None and self._connection.is_open:
            self._start_batch()

    def _mark(self, session: Session, batch: _Batch) -> None:
        table = self.table
        now = _now()
        if batch.acked:
            session.execute(update(table).where(table.c.id.in_(batch.acked)).values(sent_at=now))
        for outbox_id, reason in batch.failed.items():
            attempts = session.execute(select(table.c.attempts).where(table.c.id == outbox_id)).scalar_one()
            delay = min(INITIAL_BACKOFF * 2**attempts, self.max_backoff)
            session.execute(
                update(table)
                .where(table.c.id == outbox_id)
                .values(
                    attempts=attempts + 1, next_attempt_at=now + timedelta(seconds=delay), last_error=reason
                )
            )
            log.warning("event %s not accepted by the broker: %s", outbox_id, reason)

    def _abandon_batch(self) -> None:
        """Forget an unconfirmed batch; on PostgreSQL roll back so its rows are free for the next claim."""
        batch, self._batch = self._batch, None
        self._confirm_timer = None
        if batch is not None and batch.session is not None:
            try:
                batch.session.rollback()
            except Exception:
                log.warning("rollback of an abandoned relay batch failed", exc_info=True)
            finally:
                batch.session.close()

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_backlog >= BACKLOG_EVERY:
            self._last_backlog = now
            with self.db.transaction() as session:
                count = session.execute(
                    select(func.count()).select_from(self.table).where(self.table.c.sent_at.is_(None))
                ).scalar_one()
            BACKLOG.set(count)
        if now - self._last_purge >= self.purge_interval:
            self._last_purge = now
            with self.db.transaction() as session:
                result = session.execute(
                    delete(self.table).where(self.table.c.sent_at < _now() - self.retention)
                )
                purged = getattr(result, "rowcount", 0)
            if purged:
                log.info("purged %d sent outbox rows", purged)


def _is_database_error(error: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(error, OperationalError | DBAPIError)
