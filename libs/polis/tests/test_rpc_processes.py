"""polis.rpc with real processes: a responder killed with SIGKILL mid-call, and 50 concurrent calls from
the threads of one gunicorn process; no answer ever reaches the wrong caller (issue 14 item 1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
from polis.rpc import RpcClient, queue_name
from polis.testing import free_port
from polis.testing.helpers import wait_until
from polis.testing.rabbitmq import RabbitMQNode

pytestmark = pytest.mark.usefixtures("rabbitmq_running")
HERE = Path(__file__).parent
VENV_BIN = Path(sys.executable).parent
METHOD = "iam.check_password"


def _environment(rabbitmq: RabbitMQNode, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "POLIS_ENV": "test",
        "POLIS_BROKER_URL": rabbitmq.url,
        "PYTHONPATH": str(HERE),
        **extra,
    }


def _fresh_queue(url: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    connection.channel().queue_delete(queue_name("iam"))
    connection.close()


class Responders:
    def __init__(self, rabbitmq: RabbitMQNode, tmp_path: Path) -> None:
        self.rabbitmq, self.tmp_path, self.children = rabbitmq, tmp_path, []

    def start(self, **extra: str) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(
            [sys.executable, str(HERE / "rpc_processes.py"), "serve", self.rabbitmq.url],
            env=_environment(self.rabbitmq, **extra),
            start_new_session=True,
        )
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


@pytest.fixture
def responders(rabbitmq: RabbitMQNode, tmp_path: Path) -> Iterator[Responders]:
    _fresh_queue(rabbitmq.url)
    started = Responders(rabbitmq, tmp_path)
    yield started
    started.stop()


def _answering(client: RpcClient) -> bool:
    try:
        client.call(METHOD, {"account_id": str(uuid.uuid4()), "password": "x"}, timeout=1)
    except Exception:
        return False
    return True


def test_a_call_whose_responder_is_killed_mid_call_is_answered_by_another(
    responders: Responders, tmp_path: Path
) -> None:
    marker = tmp_path / "busy"
    first = responders.start(RPC_TEST_MARKER=str(marker))
    client = RpcClient(responders.rabbitmq.url, timeout=30)
    wait_until(lambda: _answering(client), timeout=30, interval=0.2)
    account = str(uuid.uuid4())
    result: dict[str, object] = {}

    def ask() -> None:
        result["answer"] = client.call(METHOD, {"account_id": account, "password": "slow"})

    # The request is taken by the first responder, which then dies holding it (unacknowledged).
    caller = threading.Thread(target=ask)
    caller.start()
    wait_until(marker.exists, timeout=20)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    marker.unlink()
    # A second responder gets the request again; this one does not hang on it (no marker: it answers).
    responders.start()
    caller.join(45)
    assert result == {"answer": {"matches": False}}  # answered once, to the caller that asked


def test_fifty_concurrent_calls_from_one_gunicorn_process_each_get_their_own_answer(
    responders: Responders, rabbitmq: RabbitMQNode, tmp_path: Path
) -> None:
    responders.start()
    wait_until(lambda: _answering(RpcClient(rabbitmq.url)), timeout=30, interval=0.2)
    port = free_port()
    app = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "50",
            "--worker-class",
            "gthread",
            "rpc_processes:create_app()",
        ],
        cwd=HERE,
        env=_environment(rabbitmq),
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                urllib.request.urlopen(f"{base}/ask?account={uuid.uuid4()}&password=x", timeout=5)  # noqa: S310
            except OSError:
                return False
            return True

        wait_until(up, timeout=30, interval=0.2)
        answers: dict[int, bool] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(50)

        def ask(n: int) -> None:
            account = str(uuid.uuid4())
            password = f"right-{account}" if n % 2 else "wrong"
            try:
                start.wait()
                with urllib.request.urlopen(  # noqa: S310 - loopback
                    f"{base}/ask?account={account}&password={password}", timeout=30
                ) as response:
                    answers[n] = json.loads(response.read())["matches"]
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=ask, args=(n,)) for n in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert answers == {n: bool(n % 2) for n in range(50)}
    finally:
        os.killpg(app.pid, signal.SIGKILL)
        app.wait()
