"""polis.rpc under faults with real processes (issue 14, "RPC under faults"): a real gunicorn process asking,
responders in their own processes, a real broker. A responder down is a 503 and the request is never
answered late; a responder killed mid-call leaves the call to another; 50 concurrent calls from one gunicorn
process each get their own answer."""

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
from polis.testing.rabbitmq import RabbitMQNode

pytestmark = pytest.mark.usefixtures("rabbitmq_running")

HERE = Path(__file__).parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def _consumers(url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue_name("iam"), durable=True).method.consumer_count
    finally:
        connection.close()


def _delete_queue(url: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_delete(queue_name("iam"))
    finally:
        connection.close()


class Stack:
    """One gunicorn process (50 threads) asking over RPC, and the responder processes started by a test."""

    def __init__(self, url: str, markers: Path, timeout: float) -> None:
        self.url = url
        self.markers = markers
        self.env = {**os.environ, "POLIS_ENV": "test", "RPC_BROKER_URL": url, "RPC_TIMEOUT": str(timeout)}
        self.responders: list[subprocess.Popen[bytes]] = []
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.web = subprocess.Popen(
            [str(GUNICORN), "--chdir", str(HERE), "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--threads", "50", "--worker-class", "gthread", "--log-level", "warning",
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
    _delete_queue(rabbitmq.url)
    started = Stack(rabbitmq.url, tmp_path, timeout=getattr(request, "param", 5.0))
    yield started
    started.stop()
    _delete_queue(rabbitmq.url)


def test_fifty_concurrent_calls_from_one_gunicorn_process_each_get_their_own_answer(stack: Stack) -> None:
    stack.start_responder()
    stack.start_responder()
    answers: dict[int, list[dict[str, Any]]] = {}
    failures: list[str] = []

    def ask(n: int) -> None:
        account = str(uuid.uuid4())
        password = f"right-{account}" if n % 2 else "wrong"  # a swapped answer would show as a wrong bool
        answers[n] = []
        for _ in range(3):
            response = stack.check(account, password)
            if response.status_code != 200:
                failures.append(f"{n}: {response.status_code} {response.text}")
                return
            answers[n].append(response.json() | {"expected": {"account_id": account, "matches": bool(n % 2)}})

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert sum(len(got) for got in answers.values()) == 150
    for got in answers.values():
        for answer in got:
            assert {"account_id": answer["account_id"], "matches": answer["matches"]} == answer["expected"]
    assert len(list(stack.markers.iterdir())) == 50  # every account was asked about, none lost


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


@pytest.mark.parametrize("stack", [20.0], indirect=True)
def test_a_responder_killed_mid_call_leaves_the_call_to_another(stack: Stack) -> None:
    first, second = stack.start_responder(), stack.start_responder()
    account = str(uuid.uuid4())
    result: list[requests.Response] = []
    caller = threading.Thread(target=lambda: result.append(stack.check(account, "hang")))
    caller.start()
    marker = stack.markers / account
    wait_until(marker.exists, timeout=30)
    taken_by = int(wait_until(lambda: marker.read_text(), timeout=5))
    killed = next(process for process in (first, second) if process.pid == taken_by)
    os.kill(killed.pid, signal.SIGKILL)  # mid-call: the request was taken, never acknowledged
    caller.join(30)
    assert result and result[0].status_code == 200
    assert result[0].json() == {"account_id": account, "matches": False}
    assert int(marker.read_text()) != taken_by  # answered by the responder still alive
    other = str(uuid.uuid4())
    assert stack.check(other, f"right-{other}").json() == {"account_id": other, "matches": True}


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
