"""RabbitMQ topology (exchanges, consumer queues) and one lazily opened connection per process and thread."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Sequence

import pika
from pika.adapters.blocking_connection import BlockingChannel

EXCHANGE = "polis.events"
UNROUTED_EXCHANGE = "polis.unrouted"
UNROUTED_QUEUE = "polis.unrouted"
# After this many deliveries of one message (crash loops) the quorum queue dead-letters it to parking.
DELIVERY_LIMIT = 20

HEADER_ATTEMPT = "x-polis-attempt"
HEADER_VERSION = "x-polis-version"
HEADER_PARKED_REASON = "x-polis-parked-reason"
HEADER_PARKED_AT = "x-polis-parked-at"
HEADER_SOURCE_QUEUE = "x-polis-source-queue"

CONNECT_TIMEOUT = 2.0
BLOCKED_CONNECTION_TIMEOUT = 30.0


def main_queue(service: str) -> str:
    return f"{service}.events"


def retry_queue(service: str, number: int) -> str:
    return f"{service}.retry.{number}"


def parking_queue(service: str) -> str:
    return f"{service}.parked"


def connection_parameters(url: str, *, heartbeat: int | None = None) -> pika.URLParameters:
    """URL parameters with short connect timeouts, so readiness checks and reconnects fail fast."""
    params = pika.URLParameters(url)
    params.socket_timeout = CONNECT_TIMEOUT
    params.stack_timeout = CONNECT_TIMEOUT * 3
    params.blocked_connection_timeout = BLOCKED_CONNECTION_TIMEOUT
    params.connection_attempts = 1
    if heartbeat is not None:
        params.heartbeat = heartbeat
    return params


def declare_exchanges(channel: BlockingChannel) -> None:
    """The events exchange and its alternate exchange with its queue (the relay declares the same, async)."""
    channel.exchange_declare(UNROUTED_EXCHANGE, exchange_type="fanout", durable=True)
    channel.queue_declare(UNROUTED_QUEUE, durable=True)
    channel.queue_bind(UNROUTED_QUEUE, UNROUTED_EXCHANGE)
    # An event nobody is bound to yet goes to polis.unrouted instead of being dropped.
    channel.exchange_declare(
        EXCHANGE, exchange_type="topic", durable=True, arguments={"alternate-exchange": UNROUTED_EXCHANGE}
    )


def main_queue_arguments(service: str) -> dict[str, object]:
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": parking_queue(service),
        "x-delivery-limit": DELIVERY_LIMIT,
    }


def declare_consumer_topology(
    channel: BlockingChannel, service: str, event_types: Iterable[str], retry_delays: Sequence[float]
) -> None:
    """Main quorum queue bound to the types, one retry queue per delay, and the parking queue."""
    declare_exchanges(channel)
    channel.queue_declare(parking_queue(service), durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_declare(main_queue(service), durable=True, arguments=main_queue_arguments(service))
    for event_type in sorted(set(event_types)):
        channel.queue_bind(main_queue(service), EXCHANGE, routing_key=event_type)
    for number, delay in enumerate(retry_delays, start=1):
        # A message waits out the TTL here, then dead-letters back to the main queue: delayed retry
        # without a plugin. One queue per delay: TTL expiry happens at the queue head, so every message in
        # a queue must share the same delay or a short one would wait behind a long one.
        channel.queue_declare(
            retry_queue(service, number),
            durable=True,
            arguments={
                "x-message-ttl": int(delay * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": main_queue(service),
            },
        )


class _ThreadConnections(threading.local):
    connections: dict[str, tuple[int, pika.BlockingConnection]]

    def __init__(self) -> None:
        self.connections = {}


_local = _ThreadConnections()


def connection_for_thread(url: str) -> pika.BlockingConnection:
    """This thread's connection to url, opened on first use and reopened when it has closed.

    pika connections are not thread-safe and must not cross a fork: the pid check drops a connection
    inherited from a parent process (gunicorn preload) without touching its socket.
    """
    pid = os.getpid()
    entry = _local.connections.get(url)
    if entry is not None:
        owner, connection = entry
        if owner == pid and connection.is_open:
            return connection
        if owner == pid:
            _close_quietly(connection)
    connection = pika.BlockingConnection(connection_parameters(url))
    _local.connections[url] = (pid, connection)
    return connection


def close_thread_connections() -> None:
    """Close this thread's connections (worker shutdown, tests)."""
    pid = os.getpid()
    for owner, connection in _local.connections.values():
        if owner == pid:
            _close_quietly(connection)
    _local.connections.clear()


def _close_quietly(connection: pika.BlockingConnection) -> None:
    # A broken connection is being thrown away anyway: whatever closing it raises does not matter.
    with contextlib.suppress(Exception):
        if connection.is_open:
            connection.close()


def ping(url: str) -> None:
    """Raise unless the broker answers on this thread's connection (for /readyz).

    A web process's connection is used only by these checks, so between two of them nothing services its
    heartbeats and the broker may have closed it as idle: a failure on the old connection is retried once
    on a new one, and only a broker that refuses that too makes the check fail.
    """
    for attempt in (1, 2):
        try:
            connection_for_thread(url).process_data_events(time_limit=0)
            return
        except Exception:
            # Drop it so the retry (or the next ping) reconnects instead of reusing a half-dead connection.
            entry = _local.connections.pop(url, None)
            if entry is not None and entry[0] == os.getpid():
                _close_quietly(entry[1])
            if attempt == 2:
                raise
