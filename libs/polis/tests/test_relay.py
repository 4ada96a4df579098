"""The outbox relay against a real broker: delivery, broker outages, concurrent relays, the SQLite lock."""

from __future__ import annotations

import threading
from collections import Counter as Tally

import pika
import pytest
from polis.events import Event, Relay, record
from polis.events.broker import EXCHANGE, declare_exchanges
from polis.testing.helpers import EventTables, Threads, wait_until
from sqlalchemy import func, select

pytestmark = pytest.mark.usefixtures("rabbitmq_running")


def _record(tables: EventTables, count: int, start: int = 0) -> list[str]:
    ids = []
    with tables.db.transaction() as session:
        for n in range(start, start + count):
            event = Event.new("polis.test_happened", {"n": n}, producer="tests")
            record(session, event, tables.outbox)
            ids.append(event.id)
    return ids


class Sink:
    """A test queue bound to the events exchange, drained on a connection of its own."""

    def __init__(self, url: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        declare_exchanges(self.channel)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, EXCHANGE, routing_key="polis.#")
        self.received: list[tuple[pika.spec.BasicProperties, bytes]] = []

    def drain(self) -> int:
        while True:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return len(self.received)
            self.received.append((properties, body))

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()


def _unsent(tables: EventTables) -> int:
    with tables.db.transaction() as session:
        table = tables.outbox
        return session.execute(
            select(func.count()).select_from(table).where(table.c.sent_at.is_(None))
        ).scalar_one()


def test_relay_publishes_every_row_and_marks_it_sent(tables, rabbitmq, threads: Threads) -> None:
    sink = Sink(rabbitmq.url)
    ids = _record(tables, 300)
    relay = Relay(db=tables.db, table=tables.outbox, broker_url=rabbitmq.url, stop_event=threads.stop_event,
                  batch_size=120)  # fmt: skip
    threads.start(relay.run)
    wait_until(lambda: sink.drain() >= 300)
    wait_until(lambda: _unsent(tables) == 0)
    properties, body = sink.received[0]
    assert [p.message_id for p, _b in sink.received] == ids  # one relay publishes in id order
    assert properties.delivery_mode == 2 and properties.content_type == "application/json"
    assert properties.type == "polis.test_happened" and properties.headers == {"x-polis-version": 1}
    assert Event.from_json(body).id == ids[0]
    sink.close()


def test_relay_backs_off_while_the_broker_is_down_and_delivers_after(
    tables, rabbitmq, threads: Threads
) -> None:
    sink = Sink(rabbitmq.url)
    sink.channel.queue_declare("relay-outage", durable=True)
    sink.channel.queue_bind("relay-outage", EXCHANGE, routing_key="polis.#")
    sink.close()
    relay = Relay(db=tables.db, table=tables.outbox, broker_url=rabbitmq.url, stop_event=threads.stop_event,
                  max_backoff=1.0)  # fmt: skip
    threads.start(relay.run)
    first = _record(tables, 10)
    wait_until(lambda: _unsent(tables) == 0)
    rabbitmq.kill()
    later = _record(tables, 50, start=10)
    assert _unsent(tables) == 50
    rabbitmq.start().wait_ready()
    wait_until(lambda: _unsent(tables) == 0, timeout=30)
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq.url))
    channel = connection.channel()
    seen = set()
    while (message := channel.basic_get("relay-outage", auto_ack=True))[0] is not None:
        seen.add(message[1].message_id)
    channel.queue_delete("relay-outage")
    connection.close()
    assert seen == set(first) | set(later)  # durable queue kept the first ones across the crash


def test_two_relays_on_postgresql_publish_each_row_exactly_once(tables, rabbitmq, threads: Threads,
                                                                 database_kind: str) -> None:  # fmt: skip
    if database_kind != "postgresql":
        pytest.skip("concurrent relays need SKIP LOCKED (PostgreSQL); SQLite runs one relay, tested below")
    sink = Sink(rabbitmq.url)
    ids = _record(tables, 2000)
    for _ in range(2):
        relay = Relay(db=tables.db, table=tables.outbox, broker_url=rabbitmq.url,
                      stop_event=threads.stop_event, batch_size=50)  # fmt: skip
        threads.start(relay.run)
    wait_until(lambda: _unsent(tables) == 0, timeout=60)
    wait_until(lambda: sink.drain() >= 2000)
    threads.stop()
    sink.drain()
    tally = Tally(p.message_id for p, _b in sink.received)
    assert set(tally) == set(ids)
    assert max(tally.values()) == 1
    sink.close()


def test_a_second_relay_on_sqlite_waits_for_the_lock(tables, rabbitmq, database_kind: str) -> None:
    if database_kind != "sqlite":
        pytest.skip("the relay lock file is the SQLite mechanism")
    first_stop, second_stop = threading.Event(), threading.Event()
    first = Relay(db=tables.db, table=tables.outbox, broker_url=rabbitmq.url, stop_event=first_stop)
    second = Relay(db=tables.db, table=tables.outbox, broker_url=rabbitmq.url, stop_event=second_stop)
    first_thread = threading.Thread(target=first.run, daemon=True)
    first_thread.start()
    _record(tables, 5)
    wait_until(lambda: _unsent(tables) == 0)
    second_thread = threading.Thread(target=second.run, daemon=True)
    second_thread.start()
    # While the first relay lives, the second never connects: new rows are all the first one's work.
    _record(tables, 5, start=100)
    wait_until(lambda: _unsent(tables) == 0)
    assert not second._connected and second_thread.is_alive()
    first_stop.set()
    first_thread.join(timeout=30)
    _record(tables, 5, start=5)
    wait_until(lambda: _unsent(tables) == 0)
    assert second._connected
    second_stop.set()
    second_thread.join(timeout=30)
    assert not first_thread.is_alive() and not second_thread.is_alive()
