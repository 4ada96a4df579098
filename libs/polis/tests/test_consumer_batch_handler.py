"""The consumer's batch handler: one call per batch on the fast path, per-event savepoints when it fails.

The batch is applied directly (no broker): which messages arrive together is the broker's business, what
the consumer does with a batch is this test's.
"""

from __future__ import annotations

import threading
from typing import Any

import pika
from polis.events import Consumer, Event
from polis.events.consumer import _Message
from polis.testing.helpers import EventTables
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

BAD = 13  # the event the handlers refuse


def _effects(tables: EventTables) -> Table:
    metadata = MetaData()
    table = Table("batch_effects", metadata, Column("event_id", String(36)), Column("n", Integer))
    metadata.create_all(tables.db.engine)
    return table


def _consumer(tables: EventTables, effects: Table, calls: list[list[int]]) -> Consumer:
    def handle(session: Any, event: Event) -> None:
        if event.data["n"] == BAD:
            raise ValueError("refused")
        session.execute(insert(effects).values(event_id=event.id, n=event.data["n"]))

    def handle_batch(session: Any, events: Any) -> None:
        calls.append([event.data["n"] for event in events])
        if any(event.data["n"] == BAD for event in events):
            raise ValueError("refused")
        session.execute(insert(effects), [{"event_id": e.id, "n": e.data["n"]} for e in events])

    return Consumer(
        service="batchtest",
        db=tables.db,
        table=tables.processed,
        broker_url="amqp://unused",
        handlers={"polis.test_happened": handle},
        batch_handler=handle_batch,
        stop_event=threading.Event(),
    )


def _batch(consumer: Consumer, events: list[Event]) -> list[_Message]:
    batch = [_Message(tag, pika.BasicProperties(), event.to_json()) for tag, event in enumerate(events, 1)]
    for message in batch:
        consumer._parse(message)
    return batch


def _rows(tables: EventTables, effects: Table) -> list[int]:
    with tables.db.transaction() as session:
        return sorted(session.execute(select(effects.c.n)).scalars())


def _processed(tables: EventTables) -> int:
    with tables.db.transaction() as session:
        return session.execute(select(func.count()).select_from(tables.processed)).scalar_one()


def test_the_fast_path_hands_the_batch_to_the_batch_handler_once_in_order_and_dedupes(
    tables: EventTables,
) -> None:
    effects, calls = _effects(tables), []
    consumer = _consumer(tables, effects, calls)
    events = [Event.new("polis.test_happened", {"n": n}, producer="tests") for n in range(5)]
    consumer._apply(_batch(consumer, [*events, events[1]]))  # the same event twice in one batch
    assert calls == [[0, 1, 2, 3, 4]]
    assert _rows(tables, effects) == [0, 1, 2, 3, 4] and _processed(tables) == 5
    consumer._apply(_batch(consumer, events[:2]))  # a redelivery: acknowledged without a second effect
    assert calls == [[0, 1, 2, 3, 4]] and _rows(tables, effects) == [0, 1, 2, 3, 4]


def test_when_the_batch_handler_fails_each_event_runs_alone_and_only_the_bad_one_is_set_aside(
    tables: EventTables,
) -> None:
    effects, calls = _effects(tables), []
    consumer = _consumer(tables, effects, calls)
    events = [Event.new("polis.test_happened", {"n": n}, producer="tests") for n in (1, 2, BAD, 4)]
    batch = _batch(consumer, events)
    consumer._apply(batch)
    assert calls == [[1, 2, BAD, 4]]  # the batch call, rolled back; then the per-event handlers
    assert _rows(tables, effects) == [1, 2, 4] and _processed(tables) == 3
    failures = {message.event.data["n"]: message.failure for message in batch if message.event}
    assert failures[1] is None and failures[4] is None
    assert failures[BAD] == "ValueError: refused"  # retried, then parked, by _handle_batch
