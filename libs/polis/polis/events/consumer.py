"""Consumer runner: batches of events in one transaction each, deduplicated by event id, retried, parked.

Only database effects are covered by the dedupe: a handler that talks to the outside world (email, HTTP)
must record the work in its database and do it from there (the notifier stores deliveries, then sends).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions
import pika.spec
from prometheus_client import Counter
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from polis.db import Database
from polis.events import broker, contracts
from polis.events.envelope import Event, MalformedEvent
from polis.events.processed import define_processed_events

__all__ = ["BatchHandler", "Consumer", "Handler", "define_processed_events"]

log = logging.getLogger("polis.events.consumer")

Handler = Callable[[Session, Event], None]
# Optional: the new events of a batch, in order, in one call (e.g. one INSERT for all of them). It must have
# the same effect as calling the per-event handler of each, in order; when it raises, the batch is rolled
# back and run again with the per-event handlers, each in a savepoint, so one bad event is set aside.
BatchHandler = Callable[[Session, Sequence[Event]], None]

HANDLED = Counter("polis_events_handled", "Events handled", ["type"])
DUPLICATES = Counter("polis_events_duplicates", "Redelivered events acknowledged without effect", ["type"])
RETRIED = Counter("polis_events_retried", "Events sent to a retry queue", ["type"])
PARKED = Counter("polis_events_parked", "Events sent to the parking queue", ["type"])

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 30.0
FAULT_CRASH_AFTER_COMMIT = "crash_after_commit_before_ack"
FAULT_HANDLER_FAILS = "handler_fails"  # every handler call raises: retries and parking, end to end


class Unprocessable(Exception):
    """Raised by a handler when its event can never be handled (not "not yet"): parked at once, with the
    reason, instead of after the bounded retries (e.g. a message for an account that does not exist)."""


@dataclass
class _Message:
    tag: int
    properties: pika.spec.BasicProperties
    body: bytes
    event: Event | None = None
    failure: str | None = None  # handler error: retry
    malformed: str | None = None  # not an event we can ever handle: park at once


def _bind_request_id(value: str | None) -> AbstractContextManager[Any]:
    try:
        from polis.requestid import bind
    except ImportError:
        return nullcontext()
    return bind(value)


class Consumer:
    """Consumes `<service>.events`; run() blocks until stop_event is set."""

    def __init__(
        self,
        *,
        service: str,
        db: Database,
        table: Table,
        broker_url: str,
        handlers: dict[str, Handler],
        stop_event: threading.Event,
        retry_delays: Sequence[float] = (1, 5, 30, 120, 600),
        prefetch: int = 200,
        batch_size: int = 100,
        max_wait: float = 0.2,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        self.service = service
        self.db = db
        self.table = table
        self.broker_url = broker_url
        self.handlers = dict(handlers)
        self.stop_event = stop_event
        self.retry_delays = tuple(retry_delays)
        self.prefetch = prefetch
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.batch_handler = batch_handler
        self._fault = _fault()  # read once: the hot path does not consult the environment per message
        self.queue = broker.main_queue(service)

    def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Consume until stop_event is set, reconnecting with growing back-off on connection errors.

        on_ready is called each time the topology is declared and consuming has started (tests, probes).
        """
        backoff = INITIAL_BACKOFF
        while not self.stop_event.is_set():
            try:
                self._consume(on_ready=on_ready or (lambda: None))
                backoff = INITIAL_BACKOFF
            except pika.exceptions.AMQPError as error:
                log.warning("consumer connection lost (%s), retrying in %.1fs", error, backoff)
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _consume(self, on_ready: Callable[[], None]) -> None:
        connection = pika.BlockingConnection(broker.connection_parameters(self.broker_url, heartbeat=30))
        try:
            channel = connection.channel()
            broker.declare_consumer_topology(channel, self.service, self.handlers, self.retry_delays)
            # Confirms on this channel: a retried or parked copy must be safe before the original is acked.
            channel.confirm_delivery()
            channel.basic_qos(prefetch_count=self.prefetch)
            pending: list[_Message] = []

            def collect(_ch: Any, method: Any, properties: pika.spec.BasicProperties, body: bytes) -> None:
                pending.append(_Message(method.delivery_tag, properties, body))

            channel.basic_consume(self.queue, collect)
            log.info("consuming %s", self.queue, extra={"queue": self.queue})
            on_ready()
            while not self.stop_event.is_set():
                connection.process_data_events(time_limit=self.max_wait)
                if pending:
                    batch, pending[:] = pending[: self.batch_size], pending[self.batch_size :]
                    self._handle_batch(connection, channel, batch)
        finally:
            if connection.is_open:
                with contextlib.suppress(pika.exceptions.AMQPError):
                    connection.close()

    # -- one batch ------------------------------------------------------------------------------------

    def _handle_batch(self, connection: pika.BlockingConnection, channel: Any, batch: list[_Message]) -> None:
        for message in batch:
            self._parse(message)
        backoff = INITIAL_BACKOFF
        while True:
            try:
                self._apply(batch)
                break
            except DBAPIError as error:
                # Database outage: keep the messages unacked and try again. Not nack: each redelivery
                # would count towards the quorum queue's delivery limit and park healthy messages.
                log.warning("database unavailable (%s); batch retried in %.1fs", error.orig, backoff)
                for message in batch:
                    message.failure = None
                connection.sleep(backoff)  # keeps heartbeats flowing while waiting
                backoff = min(backoff * 2, MAX_BACKOFF)
                if self.stop_event.is_set():
                    return  # unacked messages return to the queue when the connection closes
        if self._fault == FAULT_CRASH_AFTER_COMMIT:
            os.kill(os.getpid(), signal.SIGKILL)
        for message in batch:
            if message.malformed is not None:
                self._park(channel, message, message.malformed)
            elif message.failure is not None:
                self._retry_or_park(channel, message)
        channel.basic_ack(delivery_tag=max(message.tag for message in batch), multiple=True)

    def _parse(self, message: _Message) -> None:
        try:
            event = Event.from_json(message.body)
            contracts.validate(event)
        except (MalformedEvent, contracts.ContractViolation) as error:
            message.malformed = f"malformed: {error}"
            return
        if event.type not in self.handlers:
            message.malformed = f"no handler for {event.type}"
            return
        message.event = event

    def _apply(self, batch: list[_Message]) -> None:
        """Handle every parsed message of the batch in one transaction and commit once.

        The fast path runs the whole batch without savepoints (through the batch handler, when there is
        one). Only when a handler fails is the batch run again with one savepoint per message, so that the
        failure is set aside and the rest still commits.
        """
        try:
            self._apply_in_transaction(batch, isolate=False)
        except _BatchFailed:
            # Which event broke the batch is not known: every one runs again with its own handler, each in
            # a savepoint; the one that fails again is set aside.
            self._apply_in_transaction(batch, isolate=True)
        except _HandlerFailed:
            # The message that failed keeps its failure and is not called again; the others, rolled back
            # with it, run once more, each in a savepoint in case another one fails too.
            self._apply_in_transaction(batch, isolate=True)

    def _apply_in_transaction(self, batch: list[_Message], *, isolate: bool) -> None:
        with self.db.transaction() as session:
            events = [message.event for message in batch if message.event is not None]
            seen = set(
                session.execute(
                    select(self.table.c.event_id).where(self.table.c.event_id.in_([e.id for e in events]))
                ).scalars()
            )
            done: list[dict[str, Any]] = []
            fresh: list[Event] = []
            for message in batch:
                event = message.event
                if event is None or message.failure is not None:
                    continue
                if event.id in seen:  # a redelivery, or the same event twice in one batch
                    DUPLICATES.labels(event.type).inc()
                    continue
                seen.add(event.id)
                if not isolate:
                    if self.batch_handler is None:
                        self._call_handler(session, event, message)
                    else:
                        fresh.append(event)
                    done.append(_processed_row(event))
                    continue
                try:
                    with session.begin_nested():
                        self._call_handler(session, event, message)
                        session.execute(insert(self.table).values(_processed_row(event)))
                except _HandlerFailed:
                    pass
            if fresh:
                self._call_batch_handler(session, fresh)
            if done:
                session.execute(insert(self.table), done)
        for message in batch:
            if message.event is not None and message.failure is None:
                HANDLED.labels(message.event.type).inc()

    def _call_batch_handler(self, session: Session, events: list[Event]) -> None:
        assert self.batch_handler is not None
        try:
            if self._fault == FAULT_HANDLER_FAILS:
                raise RuntimeError("fault injected by POLIS_FAULT=handler_fails")
            self.batch_handler(session, events)
        except DBAPIError as error:
            if error.connection_invalidated:
                raise  # a database outage: the whole batch waits and is tried again
            raise _BatchFailed from error
        except Exception as error:
            log.info("batch of %d events failed (%s): handled one by one", len(events), type(error).__name__)
            raise _BatchFailed from error

    def _call_handler(self, session: Session, event: Event, message: _Message) -> None:
        try:
            with _bind_request_id(event.correlation_id):
                if self._fault == FAULT_HANDLER_FAILS:
                    raise RuntimeError("fault injected by POLIS_FAULT=handler_fails")
                self.handlers[event.type](session, event)
        except DBAPIError as error:
            if error.connection_invalidated:
                raise  # a database outage: the whole batch waits and is tried again
            message.failure = f"{type(error).__name__}: {error}"
            raise _HandlerFailed from error
        except Unprocessable as error:
            message.failure = message.malformed = f"unprocessable: {error}"
            raise _HandlerFailed from error
        except Exception as error:
            message.failure = f"{type(error).__name__}: {error}"
            log.warning("handler for %s %s failed: %s", event.type, event.id, message.failure)
            raise _HandlerFailed from error

    # -- retries and parking --------------------------------------------------------------------------

    def _retry_or_park(self, channel: Any, message: _Message) -> None:
        headers = dict(message.properties.headers or {})
        attempt = int(headers.get(broker.HEADER_ATTEMPT, 0)) + 1
        event_type = message.event.type if message.event else "unknown"
        if attempt > len(self.retry_delays):
            self._park(channel, message, f"failed {attempt} times; last error: {message.failure}")
            return
        headers[broker.HEADER_ATTEMPT] = attempt
        channel.basic_publish(
            "",
            broker.retry_queue(self.service, attempt),
            message.body,
            _with_headers(message.properties, headers),
            mandatory=True,
        )
        RETRIED.labels(event_type).inc()

    def _park(self, channel: Any, message: _Message, reason: str) -> None:
        headers = dict(message.properties.headers or {})
        headers[broker.HEADER_PARKED_REASON] = reason[:1000]
        headers[broker.HEADER_PARKED_AT] = datetime.now(UTC).isoformat()
        headers[broker.HEADER_SOURCE_QUEUE] = self.queue
        channel.basic_publish(
            "",
            broker.parking_queue(self.service),
            message.body,
            _with_headers(message.properties, headers),
            mandatory=True,
        )
        PARKED.labels(message.event.type if message.event else "unknown").inc()
        log.error("parked message %s: %s", message.properties.message_id, reason)


def _fault() -> str | None:
    """The fault a test asked for with POLIS_FAULT; honoured only under POLIS_ENV=test."""
    return os.environ.get("POLIS_FAULT") if os.environ.get("POLIS_ENV") == "test" else None


class _HandlerFailed(Exception):
    """A handler raised: its message is retried or parked, the rest of the batch still commits."""


class _BatchFailed(Exception):
    """The batch handler raised: the batch runs again event by event, each in a savepoint."""


def _processed_row(event: Event) -> dict[str, Any]:
    return {"event_id": event.id, "event_type": event.type, "processed_at": datetime.now(UTC)}


def _with_headers(properties: pika.spec.BasicProperties, headers: dict[str, Any]) -> pika.BasicProperties:
    """A copy of the message's properties (message id, type, correlation id...) with new headers."""
    return pika.BasicProperties(
        content_type=properties.content_type,
        delivery_mode=pika.DeliveryMode.Persistent.value,
        message_id=properties.message_id,
        correlation_id=properties.correlation_id,
        type=properties.type,
        timestamp=properties.timestamp,
        headers=headers,
    )
