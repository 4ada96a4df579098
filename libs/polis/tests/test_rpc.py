"""polis.rpc against a real broker: answers, sealing on the wire, absent and slow responders, many threads,
an idle connection past its heartbeat, a broker restart."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from polis.events.contracts import ContractViolation
from polis.requestid import bind
from polis.rpc import RpcClient, RpcResponder, RpcUnavailable, queue_name
from polis.rpc.errors import RpcRemoteError
from polis.testing.helpers import Threads, wait_until
from polis.testing.rabbitmq import RabbitMQNode, delete_queue

pytestmark = pytest.mark.usefixtures("rabbitmq_running")

METHOD = "iam.check_password"  # any method with a contract will do: the handlers here are the tests' own


class Served:
    """A responder in background threads, with a record of what its handler saw."""

    def __init__(self, url: str, *, concurrency: int = 2, heartbeat: int = 5) -> None:
        self.seen: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.threads = Threads()
        self.responder = RpcResponder(
            url, service="iam", handlers={METHOD: self.handle}, concurrency=concurrency, heartbeat=heartbeat
        )

    def handle(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.gate.wait(10)
        self.seen.append(payload)
        return {"matches": payload["password"] == f"right-{payload['account_id']}"}

    def start(self) -> Served:
        self.threads.start(lambda: self.responder.run(self.threads.stop_event))
        wait_until(self.responder.ready.is_set)
        return self

    def stop(self) -> None:
        self.threads.stop()


@pytest.fixture
def served(rabbitmq: RabbitMQNode) -> Iterator[Served]:
    delete_queue(rabbitmq.url, queue_name("iam"))
    server = Served(rabbitmq.url).start()
    yield server
    server.stop()


def test_a_call_gets_its_answer_and_the_handler_the_opened_secret(
    served: Served, rabbitmq: RabbitMQNode
) -> None:
    account = str(uuid.uuid4())
    client = RpcClient(rabbitmq.url, timeout=5)
    assert client.call(METHOD, {"account_id": account, "password": f"right-{account}"}) == {"matches": True}
    assert client.call(METHOD, {"account_id": account, "password": "wrong"}) == {"matches": False}
    assert [seen["password"] for seen in served.seen] == [f"right-{account}", "wrong"]
    client.close()


def test_a_secret_field_crosses_the_broker_sealed(rabbitmq: RabbitMQNode) -> None:
    delete_queue(rabbitmq.url, queue_name("iam"))
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq.url))
    channel = connection.channel()
    channel.queue_declare(queue_name("iam"), durable=True)  # a queue whose only reader is this test
    taken: list[bytes] = []

    def spy() -> None:
        def take() -> bool:
            _method, _properties, body = channel.basic_get(queue_name("iam"), auto_ack=True)
            if body:
                taken.append(body)
            return bool(body)

        wait_until(take, timeout=10)

    reader = threading.Thread(target=spy)
    reader.start()
    with pytest.raises(RpcUnavailable):
        RpcClient(rabbitmq.url, timeout=2).call(
            METHOD, {"account_id": str(uuid.uuid4()), "password": "s3cret"}
        )
    reader.join()
    connection.close()
    assert len(taken) == 1
    assert b"s3cret" not in taken[0]
    assert json.loads(taken[0])["payload"]["password"].startswith("sealed:v1:")


def test_the_request_id_is_the_correlation_id(served: Served, rabbitmq: RabbitMQNode) -> None:
    seen: list[str | None] = []
    original = served.responder.answer

    def spy(body: bytes) -> dict[str, Any]:
        from polis.requestid import current_request_id

        seen.append(current_request_id())
        return original(body)

    served.responder.answer = spy  # type: ignore[method-assign]
    with bind("req-1234"):
        RpcClient(rabbitmq.url).call(METHOD, {"account_id": str(uuid.uuid4()), "password": "x"})
    assert seen == ["req-1234"]


def test_no_responder_queue_is_unavailable_at_once(rabbitmq: RabbitMQNode) -> None:
    delete_queue(rabbitmq.url, queue_name("iam"))
    client = RpcClient(rabbitmq.url, timeout=30)
    with pytest.raises(RpcUnavailable) as caught:
        client.call(METHOD, {"account_id": str(uuid.uuid4()), "password": "x"})
    assert caught.value.reason == "no responder"
    assert caught.value.status == 503


def test_a_responder_that_is_down_is_a_timeout_and_its_late_answer_reaches_nobody(
    rabbitmq: RabbitMQNode,
) -> None:
    delete_queue(rabbitmq.url, queue_name("iam"))
    server = Served(rabbitmq.url, concurrency=1)
    server.gate.clear()  # the first call hangs in the handler past its caller's timeout
    server.start()
    client = RpcClient(rabbitmq.url, timeout=0.5)
    first = str(uuid.uuid4())
    with pytest.raises(RpcUnavailable) as caught:
        client.call(METHOD, {"account_id": first, "password": f"right-{first}"})
    assert caught.value.reason == "timeout"
    server.gate.set()  # the late answer (matches: True) is now on its way to this thread's channel
    wait_until(lambda: server.seen)
    second = str(uuid.uuid4())
    client.timeout = 5
    assert client.call(METHOD, {"account_id": second, "password": "wrong"}) == {"matches": False}
    server.stop()


def test_fifty_concurrent_callers_each_get_their_own_answer(served: Served, rabbitmq: RabbitMQNode) -> None:
    client = RpcClient(rabbitmq.url, timeout=20)
    results: dict[int, bool] = {}
    errors: list[BaseException] = []

    def ask(n: int) -> None:
        account = str(uuid.uuid4())
        password = f"right-{account}" if n % 2 else "wrong"
        try:
            for _ in range(4):
                results[n] = client.call(METHOD, {"account_id": account, "password": password})["matches"]
                assert results[n] is bool(n % 2)
        except BaseException as error:  # reported below, with the thread's number
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert results == {n: bool(n % 2) for n in range(50)}


def test_a_request_that_breaks_its_contract_is_refused_before_it_is_sent(rabbitmq: RabbitMQNode) -> None:
    with pytest.raises(ContractViolation):
        RpcClient(rabbitmq.url).call(METHOD, {"account_id": "not-a-uuid", "password": "x"})
    with pytest.raises(KeyError):
        RpcClient(rabbitmq.url).call("iam.no_such_method", {})


def test_a_failing_handler_is_a_remote_error(rabbitmq: RabbitMQNode) -> None:
    delete_queue(rabbitmq.url, queue_name("iam"))

    def broken(_payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    threads = Threads()
    responder = RpcResponder(rabbitmq.url, service="iam", handlers={METHOD: broken}, concurrency=1)
    threads.start(lambda: responder.run(threads.stop_event))
    wait_until(responder.ready.is_set)
    try:
        with pytest.raises(RpcRemoteError) as caught:
            RpcClient(rabbitmq.url).call(METHOD, {"account_id": str(uuid.uuid4()), "password": "x"})
        assert caught.value.remote_code == "internal"
    finally:
        threads.stop()


def _missed_heartbeats(rabbitmq: RabbitMQNode) -> int:
    return rabbitmq.log_path.read_text(errors="replace").count("missed heartbeats from client")


def test_a_call_after_the_broker_dropped_an_idle_connection_succeeds(
    served: Served, rabbitmq: RabbitMQNode
) -> None:
    client = RpcClient(rabbitmq.url, timeout=5, heartbeat=1)
    dropped_before = _missed_heartbeats(rabbitmq)
    account = str(uuid.uuid4())
    assert client.call(METHOD, {"account_id": account, "password": "wrong"}) == {"matches": False}
    # Nothing services the connection while the thread is idle: the broker drops it after missed heartbeats.
    wait_until(lambda: _missed_heartbeats(rabbitmq) > dropped_before, timeout=30, interval=0.2)
    assert client.call(METHOD, {"account_id": account, "password": f"right-{account}"}) == {"matches": True}


def test_a_responder_busy_and_then_idle_keeps_its_connection_past_its_heartbeat(
    rabbitmq: RabbitMQNode, caplog: pytest.LogCaptureFixture
) -> None:
    """The responder reads its socket itself (polis.rpc.wire.pump), not through pika's event loop: pika's
    heartbeat timer must still run, under a steady stream of calls and with none."""
    delete_queue(rabbitmq.url, queue_name("iam"))
    server = Served(rabbitmq.url, concurrency=1, heartbeat=1).start()
    client = RpcClient(rabbitmq.url, timeout=5)
    account = str(uuid.uuid4())
    caplog.set_level(logging.WARNING, logger="polis.rpc.responder")
    try:
        stream_ends = time.monotonic() + 4  # four heartbeat intervals of calls, one after another
        calls = 0
        while time.monotonic() < stream_ends:
            assert client.call(METHOD, {"account_id": account, "password": "wrong"}) == {"matches": False}
            calls += 1
        threading.Event().wait(4)  # and four with none: the time under test, not a wait for something
        right = {"account_id": account, "password": f"right-{account}"}
        assert client.call(METHOD, right) == {"matches": True}
        assert len(server.seen) == calls + 1
        assert not [r for r in caplog.records if "lost the broker" in r.getMessage()]  # never dropped
    finally:
        client.close()
        server.stop()


def test_calls_work_again_after_a_broker_restart(served: Served, rabbitmq: RabbitMQNode) -> None:
    client = RpcClient(rabbitmq.url, timeout=3)
    account = str(uuid.uuid4())
    assert client.call(METHOD, {"account_id": account, "password": "wrong"}) == {"matches": False}
    rabbitmq.restart()
    rabbitmq.wait_ready()

    def answered() -> bool:
        try:
            return client.call(METHOD, {"account_id": account, "password": f"right-{account}"})["matches"]
        except RpcUnavailable:
            return False

    assert wait_until(answered, timeout=60, interval=0.5)


def test_the_readiness_ping_survives_a_connection_the_broker_dropped_as_idle(rabbitmq: RabbitMQNode) -> None:
    from polis.events import broker

    url = f"{rabbitmq.url}?heartbeat=1"
    dropped_before = _missed_heartbeats(rabbitmq)
    broker.ping(url)
    wait_until(lambda: _missed_heartbeats(rabbitmq) > dropped_before, timeout=30, interval=0.2)
    broker.ping(url)  # the first check after idleness answered 503 before (issue 14 item 1)
    broker.close_thread_connections()


class _CountedSocket:
    """A connection's socket with its sends counted; `next_send_takes` makes the next send partial."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.sends: list[int] = []
        self.next_send_takes: int | None = None

    def send(self, data: Any, *flags: int) -> int:
        if self.next_send_takes is not None:
            data, self.next_send_takes = data[: self.next_send_takes], None
        self.sends.append(len(data))
        return int(self._sock.send(data, *flags))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _counted_connection(url: str, *, write_through: bool) -> Any:
    from polis.rpc import wire

    connection = pika.BlockingConnection(pika.URLParameters(url))
    if write_through:
        wire.write_through(connection)
    transport = connection._impl._transport
    transport._sock = _CountedSocket(transport._sock)
    return connection


def _publish_and_get(
    connection: Any, bodies: list[bytes], *, held: bool = False, first_send_takes: int | None = None
) -> tuple[int, list[bytes]]:
    """Publish `bodies` to a fresh queue: the sends that took, and what the queue then holds, in order."""
    from polis.rpc import wire

    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    sock = connection._impl._transport._sock
    sock.sends.clear()
    sock.next_send_takes = first_send_takes
    with wire.held(connection) if held else contextlib.nullcontext():
        for body in bodies:
            channel.basic_publish("", queue, body)
    sends = len(sock.sends)
    received = []
    for _ in bodies:  # the broker handles a channel's commands in order: the messages are queued first
        _method, _properties, got = channel.basic_get(queue, auto_ack=True)
        received.append(bytes(got or b""))
    return sends, received


BODY = json.dumps({"n": "x" * 5000}).encode()


def test_a_message_leaves_in_one_send_and_arrives_whole(rabbitmq: RabbitMQNode) -> None:
    """P7: pika sends every frame of a message on its own (method, header, body); an RPC connection sends
    them together, at once."""
    plain = _counted_connection(rabbitmq.url, write_through=False)
    through = _counted_connection(rabbitmq.url, write_through=True)
    try:
        assert _publish_and_get(plain, [BODY]) == (3, [BODY])
        assert _publish_and_get(through, [BODY]) == (1, [BODY])
    finally:
        plain.close()
        through.close()


def test_what_a_held_block_writes_leaves_in_one_send_in_order(rabbitmq: RabbitMQNode) -> None:
    """The responder's reply and ack: everything written inside `held` goes out together at its end."""
    connection = _counted_connection(rabbitmq.url, write_through=True)
    try:
        bodies = [b'{"reply":1}', BODY, b'{"reply":3}']
        assert _publish_and_get(connection, bodies, held=True) == (1, bodies)
    finally:
        connection.close()


def test_what_the_socket_does_not_take_is_sent_later_by_pika_in_order(rabbitmq: RabbitMQNode) -> None:
    """A full send buffer: the rest of the message stays in pika's buffer and follows, nothing lost."""
    connection = _counted_connection(rabbitmq.url, write_through=True)
    try:
        sends, received = _publish_and_get(connection, [BODY, b'{"next":2}'], first_send_takes=100)
        assert received == [BODY, b'{"next":2}']
        assert sends == 3  # 100 bytes at once, the rest of the first message by pika, then the second
    finally:
        connection.close()
