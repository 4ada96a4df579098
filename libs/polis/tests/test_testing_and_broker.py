"""The process fixtures themselves, and the broker helpers: per-thread connections, ping, topology."""

from __future__ import annotations

import threading

import pika
import psycopg
import pytest
from polis.events import broker
from polis.testing import PostgresCluster, free_port
from polis.testing.ports import is_listening


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 < port < 65536 and not is_listening(port)


def test_postgres_cluster_hands_out_separate_databases(postgres: PostgresCluster) -> None:
    first, second = postgres.create_database(), postgres.create_database()
    assert first != second and first.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    with psycopg.connect(first.replace("+psycopg", "")) as connection:
        assert connection.execute("SHOW fsync").fetchone() == ("off",)
        assert connection.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    postgres.drop_database(first.rsplit("/", 1)[1])


def test_connection_for_thread_is_per_thread_and_reopened(rabbitmq_running) -> None:
    url = rabbitmq_running.url
    mine = broker.connection_for_thread(url)
    assert broker.connection_for_thread(url) is mine
    other: list[pika.BlockingConnection] = []
    worker = threading.Thread(target=lambda: other.append(broker.connection_for_thread(url)))
    worker.start()
    worker.join()
    assert other[0] is not mine
    mine.close()
    reopened = broker.connection_for_thread(url)
    assert reopened is not mine and reopened.is_open
    broker.ping(url)
    broker.close_thread_connections()


def test_ping_raises_when_nothing_listens() -> None:
    with pytest.raises(pika.exceptions.AMQPError):
        broker.ping(f"amqp://guest:guest@localhost:{free_port()}/%2F")


def test_consumer_topology_has_retry_and_parking_queues(rabbitmq_running) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_running.url))
    channel = connection.channel()
    broker.declare_consumer_topology(channel, "topo", ["polis.test_happened"], (0.5, 2))
    for queue in ("topo.events", "topo.retry.1", "topo.retry.2", "topo.parked", broker.UNROUTED_QUEUE):
        channel.queue_declare(queue, passive=True)
    # Redeclaring with the same arguments is accepted (it would close the channel if they differed).
    broker.declare_consumer_topology(channel, "topo", ["polis.test_happened"], (0.5, 2))
    channel.basic_publish(broker.EXCHANGE, "nobody.listens", b"{}", pika.BasicProperties(delivery_mode=2))
    method, _properties, _body = channel.basic_get(broker.UNROUTED_QUEUE, auto_ack=True)
    while method is None:  # the publish is asynchronous; poll until it has been routed
        method, _properties, _body = channel.basic_get(broker.UNROUTED_QUEUE, auto_ack=True)
    for queue in ("topo.events", "topo.retry.1", "topo.retry.2", "topo.parked"):
        channel.queue_delete(queue)
    connection.close()
