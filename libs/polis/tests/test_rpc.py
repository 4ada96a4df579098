"""polis.rpc against a real broker: answers, sealing on the wire, absent and slow responders, many threads,
an idle connection past its heartbeat, a broker restart."""

from __future__ import annotations

import json
import threading
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
from polis.testing.rabbitmq import RabbitMQNode

pytestmark = pytest.mark.usefixtures("rabbitmq_running")

METHOD = "iam.check_password"  # any method with a contract will do: the handlers here are the tests' own


def _purge(url: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.queue_delete(queue_name("iam"))
    finally:
        connection.close()


class Served:
    """A responder in background threads, with a record of what its handler saw."""

    def __init__(self, url: str, *, concurrency: int = 2) -> None:
        self.seen: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.threads = Threads()
        self.responder = RpcResponder(
            url, service="iam", handlers={METHOD: self.handle}, concurrency=concurrency, heartbeat=5
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
    _purge(rabbitmq.url)
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
    _purge(rabbitmq.url)
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
    _purge(rabbitmq.url)
    client = RpcClient(rabbitmq.url, timeout=30)
    with pytest.raises(RpcUnavailable) as caught:
        client.call(METHOD, {"account_id": str(uuid.uuid4()), "password": "x"})
    assert caught.value.reason == "no responder"
    assert caught.value.status == 503


def test_a_responder_that_is_down_is_a_timeout_and_its_late_answer_reaches_nobody(
    rabbitmq: RabbitMQNode,
) -> None:
    _purge(rabbitmq.url)
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
    _purge(rabbitmq.url)

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


def test_a_coalesced_connection_sends_a_message_in_one_write_and_it_arrives_whole(
    rabbitmq: RabbitMQNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P7: pika sends every frame on its own (method, header, body); an RPC line sends them together."""
    from pika.adapters.utils.io_services_utils import _AsyncTransportBase
    from polis.rpc.client import coalesce_writes

    sends: list[int] = []
    real_send = _AsyncTransportBase._sigint_safe_send

    def counted(sock: Any, data: Any) -> int:
        sends.append(len(data))
        return int(real_send(sock, data))

    monkeypatch.setattr(_AsyncTransportBase, "_sigint_safe_send", staticmethod(counted))
    body = json.dumps({"n": "x" * 5000}).encode()

    def publish_and_count(coalesced: bool) -> tuple[int, bytes]:
        connection = pika.BlockingConnection(pika.URLParameters(rabbitmq.url))
        try:
            if coalesced:
                coalesce_writes(connection)
            channel = connection.channel()
            queue = channel.queue_declare("", exclusive=True).method.queue
            sends.clear()
            channel.basic_publish("", queue, body)
            count = len(sends)
            # The broker handles a channel's commands in order: the message is queued before the get.
            _method, _properties, received = channel.basic_get(queue, auto_ack=True)
            return count, bytes(received or b"")
        finally:
            connection.close()

    plain = publish_and_count(coalesced=False)
    joined = publish_and_count(coalesced=True)

    assert plain == (3, body)
    assert joined == (1, body)
