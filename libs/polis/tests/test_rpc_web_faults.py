"""polis.rpc under faults, seen from a real gunicorn process (issue 14 item 1): a responder that is down is
a 503 and its request is never answered late; a responder killed (SIGKILL) mid-call hands the call to
another one, or with none left is a 503; 50 concurrent calls from the threads of one gunicorn process each
get their own answer (no reply ever reaches the wrong caller); /readyz and a call still answer after the
broker dropped the process's idle connections. (In one process, with the broker restarted: test_rpc.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
import requests
from polis.rpc import queue_name
from polis.testing.helpers import wait_until
from polis.testing.ports import free_port, is_listening
from polis.testing.rabbitmq import RabbitMQNode, delete_queue

pytestmark = pytest.mark.usefixtures("rabbitmq_running")

HERE = Path(__file__).parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def _consumers(url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue_name("iam"), durable=True).method.consumer_count
    finally:
        connection.close()


class Stack:
    """A gunicorn process (8 threads unless told) asking over RPC, and the responders a test starts."""

    def __init__(
        self, url: str, markers: Path, timeout: float, *, threads: int = 8, heartbeat: str = ""
    ) -> None:
        self.url = url
        self.markers = markers
        self.env = {**os.environ, "POLIS_ENV": "test", "RPC_BROKER_URL": url, "RPC_TIMEOUT": str(timeout),
                    "RPC_HEARTBEAT": heartbeat}  # fmt: skip
        self.responders: list[subprocess.Popen[bytes]] = []
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.web = subprocess.Popen(
            [str(GUNICORN), "--chdir", str(HERE), "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--threads", str(threads), "--worker-class", "gthread", "--log-level", "warning",
             "rpc_process:create_app()"],
            env=self.env,
        )  # fmt: skip
        wait_until(lambda: is_listening(port), timeout=30)

    def start_responder(self) -> subprocess.Popen[bytes]:
        before = _consumers(self.url)
        responder = subprocess.Popen(
            [sys.executable, str(HERE / "rpc_process.py"), self.url, str(self.markers)], env=self.env
        )
        self.responders.append(responder)
        wait_until(lambda: _consumers(self.url) >= before + 2, timeout=30)  # its two threads consume
        return responder

    def check(self, account: str, password: str, timeout: float = 30) -> requests.Response:
        return requests.post(
            f"{self.base}/check", json={"account_id": account, "password": password}, timeout=timeout
        )

    def stop(self) -> None:
        for process in [self.web, *self.responders]:
            if process.poll() is None:
                process.terminate()
        for process in [self.web, *self.responders]:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def stack(rabbitmq: RabbitMQNode, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    delete_queue(rabbitmq.url, queue_name("iam"))
    started = Stack(rabbitmq.url, tmp_path, timeout=getattr(request, "param", 5.0))
    yield started
    started.stop()
    delete_queue(rabbitmq.url, queue_name("iam"))


@pytest.mark.parametrize("stack", [1.0], indirect=True)
def test_a_responder_that_is_down_is_a_503_and_the_request_is_never_answered_late(stack: Stack) -> None:
    account = str(uuid.uuid4())
    # No responder has ever declared the queue: the broker returns the request at once.
    response = stack.check(account, f"right-{account}")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    # The queue exists but its responder is down: the call times out, the same 503.
    stack.start_responder().terminate()
    wait_until(lambda: _consumers(stack.url) == 0, timeout=30)
    response = stack.check(account, f"right-{account}")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    # The responder comes back: the request that timed out expired in the queue (it was nobody's any more:
    # the queue is first in, first out, so it would have been handled before the next one), and the
    # caller's retry with the same input is answered.
    stack.start_responder()
    other = str(uuid.uuid4())
    assert stack.check(other, "wrong").json() == {"account_id": other, "matches": False}
    assert not (stack.markers / account).exists()
    assert stack.check(account, f"right-{account}").json() == {"account_id": account, "matches": True}


@pytest.mark.parametrize("stack", [2.0], indirect=True)
def test_a_responder_killed_mid_call_with_none_left_is_a_503(stack: Stack) -> None:
    only = stack.start_responder()
    account = str(uuid.uuid4())
    result: list[requests.Response] = []
    caller = threading.Thread(target=lambda: result.append(stack.check(account, "hang")))
    caller.start()
    wait_until((stack.markers / account).exists, timeout=30)
    os.kill(only.pid, signal.SIGKILL)
    caller.join(30)
    assert result and result[0].status_code == 503
    assert result[0].json()["error"]["code"] == "service_unavailable"


@pytest.mark.parametrize("stack", [30.0], indirect=True)
def test_a_responder_killed_mid_call_hands_the_call_to_another(stack: Stack) -> None:
    first = stack.start_responder()
    account = str(uuid.uuid4())
    result: list[requests.Response] = []
    caller = threading.Thread(target=lambda: result.append(stack.check(account, "hang", timeout=60)))
    caller.start()
    # The request is taken by the first responder, which then dies holding it (unacknowledged).
    wait_until((stack.markers / account).exists, timeout=30)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    wait_until(lambda: _consumers(stack.url) == 0, timeout=30)
    # The broker gives the request to a second responder (it finds the marker: it answers at once).
    second = stack.start_responder()
    caller.join(60)
    assert result and result[0].status_code == 200, result and result[0].text
    assert result[0].json() == {"account_id": account, "matches": False}  # once, to the caller that asked
    assert (stack.markers / account).read_text() == str(second.pid)


def test_fifty_concurrent_calls_from_one_gunicorn_process_each_get_their_own_answer(
    rabbitmq: RabbitMQNode, tmp_path: Path
) -> None:
    delete_queue(rabbitmq.url, queue_name("iam"))
    stack = Stack(rabbitmq.url, tmp_path, 30.0, threads=50)
    try:
        stack.start_responder()
        answers: dict[int, Any] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(50)

        def ask(n: int) -> None:
            account = str(uuid.uuid4())
            password = f"right-{account}" if n % 2 else "wrong"
            try:
                start.wait()
                response = stack.check(account, password, timeout=60)
                answers[n] = (response.status_code, response.json(), account)
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=ask, args=(n,)) for n in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        assert errors == []
        # Each caller got the answer to its own question: its account, its password's verdict.
        assert {n: answer[:2] for n, answer in answers.items()} == {
            n: (200, {"account_id": answers[n][2], "matches": bool(n % 2)}) for n in range(50)
        }
    finally:
        stack.stop()
        delete_queue(rabbitmq.url, queue_name("iam"))


def _missed_heartbeats(rabbitmq: RabbitMQNode) -> int:
    return rabbitmq.log_path.read_text(errors="replace").count("missed heartbeats from client")


def test_readyz_and_a_call_after_the_broker_dropped_the_idle_connections_of_a_gunicorn_process(
    rabbitmq: RabbitMQNode, tmp_path: Path
) -> None:
    delete_queue(rabbitmq.url, queue_name("iam"))
    # One thread, so the requests after the idle spell land on the connections the broker dropped.
    stack = Stack(rabbitmq.url, tmp_path, 5.0, threads=1, heartbeat="1")
    try:
        stack.start_responder()
        account = str(uuid.uuid4())
        assert requests.get(f"{stack.base}/readyz", timeout=10).status_code == 200
        assert stack.check(account, "wrong").json() == {"account_id": account, "matches": False}
        dropped_before = _missed_heartbeats(rabbitmq)
        # Nothing services the web process's two connections while it idles: the broker closes both.
        wait_until(lambda: _missed_heartbeats(rabbitmq) >= dropped_before + 2, timeout=30, interval=0.2)
        ready = requests.get(f"{stack.base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text  # it answered 503 before (issue 14 item 1)
        assert stack.check(account, f"right-{account}").json() == {"account_id": account, "matches": True}
    finally:
        stack.stop()
        delete_queue(rabbitmq.url, queue_name("iam"))
