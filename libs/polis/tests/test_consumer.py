"""The consumer runner against a real broker: dedupe, retries with delays, parking, replay, crash safety."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pika
import pytest
from polis.events import Consumer, Event, Unprocessable, broker
from polis.events.parking import main as parking
from polis.testing.helpers import EventTables, Threads, wait_until
from sqlalchemy import Column, MetaData, String, Table, func, insert, select

pytestmark = pytest.mark.usefixtures("rabbitmq_running")


@pytest.fixture
def service() -> str:
    return f"svc{uuid.uuid4().hex[:8]}"


@pytest.fixture
def effects(tables: EventTables) -> Table:
    metadata = MetaData()
    table = Table("effects", metadata, Column("event_id", String(36)), Column("at", String(40)))
    metadata.create_all(tables.db.engine)
    return table


def _count(tables: EventTables, table: Table) -> int:
    with tables.db.transaction() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def _publish(url: str, body: bytes, message_id: str, routing_key: str = "polis.test_happened") -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    broker.declare_exchanges(channel)
    channel.confirm_delivery()
    properties = pika.BasicProperties(message_id=message_id, type=routing_key, delivery_mode=2)
    channel.basic_publish(broker.EXCHANGE, routing_key, body, properties, mandatory=True)
    connection.close()


def _queue_depth(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    depth = connection.channel().queue_declare(queue, passive=True).method.message_count
    connection.close()
    return depth


def _start(threads: Threads, tables: EventTables, url: str, service: str, handler, **options) -> Consumer:
    consumer = Consumer(service=service, db=tables.db, table=tables.processed, broker_url=url,
                        handlers={"polis.test_happened": handler}, stop_event=threads.stop_event,
                        **options)  # fmt: skip
    ready = []
    threads.start(lambda: consumer.run(on_ready=lambda: ready.append(True)))
    wait_until(lambda: ready)
    return consumer


def test_a_redelivered_event_has_one_effect(tables, effects, rabbitmq, threads, service) -> None:
    def handle(session, event) -> None:
        session.execute(insert(effects).values(event_id=event.id, at="x"))

    _start(threads, tables, rabbitmq.url, service, handle)
    event = Event.new("polis.test_happened", {"n": 1}, producer="tests")
    other = Event.new("polis.test_happened", {"n": 2}, producer="tests")
    for e in (event, event, other, event):
        _publish(rabbitmq.url, e.to_json(), e.id)
    wait_until(
        lambda: _count(tables, tables.processed) == 2 and _queue_depth(rabbitmq.url, f"{service}.events") == 0
    )
    threads.stop()
    assert _count(tables, effects) == 2


def test_a_failing_handler_is_retried_with_growing_delays_then_parked_and_replayed(
    tables, effects, rabbitmq, threads, service, capsys
) -> None:
    attempts: list[float] = []
    fixed = {"value": False}

    def handle(session, event) -> None:
        attempts.append(time.monotonic())
        session.execute(insert(effects).values(event_id=event.id, at=str(len(attempts))))
        if not fixed["value"]:
            raise RuntimeError("downstream refused")

    _start(threads, tables, rabbitmq.url, service, handle, retry_delays=(0.2, 0.6))
    event = Event.new("polis.test_happened", {"n": 1}, producer="tests", correlation_id="req-00000001")
    _publish(rabbitmq.url, event.to_json(), event.id)
    wait_until(lambda: _queue_depth(rabbitmq.url, f"{service}.parked") == 1)
    assert len(attempts) == 3  # first try + one per delay
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.6 and gaps[1] > gaps[0]
    assert _count(tables, effects) == 0  # each failed savepoint rolled back its effect
    assert parking(["--broker-url", rabbitmq.url, "--service", service, "list", "--json"]) == 0
    [parked] = json.loads(capsys.readouterr().out)
    assert parked["id"] == event.id and "downstream refused" in parked["reason"] and parked["attempt"] == 2
    assert parking(["--broker-url", rabbitmq.url, "--service", service, "replay", str(uuid.uuid4())]) == 1
    fixed["value"] = True
    assert parking(["--broker-url", rabbitmq.url, "--service", service, "replay", event.id]) == 0
    wait_until(lambda: _count(tables, tables.processed) == 1)
    wait_until(lambda: _queue_depth(rabbitmq.url, f"{service}.events") == 0)
    assert _count(tables, effects) == 1
    assert _queue_depth(rabbitmq.url, f"{service}.parked") == 0


def test_a_malformed_message_is_parked_at_once(tables, effects, rabbitmq, threads, service, capsys) -> None:
    calls = []
    _start(threads, tables, rabbitmq.url, service, lambda session, event: calls.append(event))
    _publish(rabbitmq.url, b"{not json", "m-1")
    bad = Event.new("polis.test_happened", {"n": "one"}, producer="tests")
    _publish(rabbitmq.url, bad.to_json(), bad.id)
    wait_until(lambda: _queue_depth(rabbitmq.url, f"{service}.parked") == 2)
    assert calls == []
    assert parking(["--broker-url", rabbitmq.url, "--service", service, "show", bad.id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["reason"].startswith("malformed") and shown["attempt"] == 0 and shown["body"]["id"] == bad.id
    assert _queue_depth(rabbitmq.url, f"{service}.retry.1") == 0


def test_an_event_its_handler_calls_unprocessable_is_parked_at_once_and_the_rest_of_the_batch_commits(
    tables, effects, rabbitmq, threads, service, capsys
) -> None:
    calls: list[int] = []

    def handle(session, event) -> None:
        calls.append(event.data["n"])
        session.execute(insert(effects).values(event_id=event.id, at="x"))
        if event.data["n"] == 1:
            raise Unprocessable("account 7c1b4a36 does not exist")

    _start(
        threads, tables, rabbitmq.url, service, handle, retry_delays=(30, 60)
    )  # retries would take minutes
    never, fine = (Event.new("polis.test_happened", {"n": n}, producer="tests") for n in (1, 2))
    for event in (never, fine):
        _publish(rabbitmq.url, event.to_json(), event.id)
    wait_until(lambda: _queue_depth(rabbitmq.url, f"{service}.parked") == 1)
    wait_until(lambda: _count(tables, tables.processed) == 1)

    assert calls.count(1) == 1  # never called again
    assert _count(tables, effects) == 1  # only the other event's effect
    assert _queue_depth(rabbitmq.url, f"{service}.retry.1") == 0
    assert parking(["--broker-url", rabbitmq.url, "--service", service, "show", never.id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["reason"] == "unprocessable: account 7c1b4a36 does not exist" and shown["attempt"] == 0


def test_a_crash_between_commit_and_ack_causes_no_second_effect(
    tables, rabbitmq, service, database_url
) -> None:
    script = Path(__file__).with_name("consumer_process.py")
    env = dict(os.environ, POLIS_ENV="test", POLIS_FAULT="crash_after_commit_before_ack")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(script.parent), env.get("PYTHONPATH")]))
    command = [sys.executable, str(script), database_url, rabbitmq.url, service]
    crashing = subprocess.Popen(command, env=env)
    try:
        wait_until(lambda: _has_queue(rabbitmq.url, f"{service}.events"))
        event = Event.new("polis.test_happened", {"n": 1}, producer="tests")
        _publish(rabbitmq.url, event.to_json(), event.id)
        assert crashing.wait(timeout=30) == -9  # SIGKILL after the commit, before the ack
    finally:
        crashing.kill()
    effects = Table("effects", MetaData(), Column("event_id", String(36)))
    assert _count(tables, effects) == 1
    assert _queue_depth(rabbitmq.url, f"{service}.events") == 1  # unacked, so back in the queue
    env.pop("POLIS_FAULT")
    healthy = subprocess.Popen(command, env=env)
    try:
        wait_until(lambda: _queue_depth(rabbitmq.url, f"{service}.events") == 0)
    finally:
        healthy.terminate()
        healthy.wait(timeout=30)
    assert _count(tables, effects) == 1


def _has_queue(url: str, queue: str) -> bool:
    try:
        _queue_depth(url, queue)
    except pika.exceptions.ChannelClosedByBroker:
        return False
    return True
