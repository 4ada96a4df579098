"""The worker and its mail sender process live and stop together (real processes; no broker needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from polis.testing.helpers import wait_until

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads children from /proc")


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state == "Z"  # exited, not yet reaped by whoever adopted it


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "POLIS_ENV": "test",
        "POLIS_VAR_DIR": str(tmp_path),
        "NOTIFIER_DATABASE_URL": f"sqlite:///{tmp_path}/notifier.sqlite3",
        "POLIS_BROKER_URL": "amqp://guest:guest@127.0.0.1:9/%2F",  # nobody there: the consumer waits
        "NOTIFIER_LOG_LEVEL": "CRITICAL",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier.worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    for child in _children(process.pid):
        if not _gone(child):
            os.kill(child, signal.SIGKILL)
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def test_the_worker_runs_its_sender_in_a_child_process_and_stops_it_on_sigterm(worker) -> None:
    wait_until(lambda: len(_children(worker.pid)) == 1, timeout=30)
    [sender] = _children(worker.pid)
    # The child names itself first thing after the fork; until then it carries the worker's name.
    wait_until(lambda: _name(sender) == "notifier-sender", timeout=30)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert _gone(sender)


def test_a_sender_that_dies_stops_the_worker_with_an_error(worker) -> None:
    wait_until(lambda: len(_children(worker.pid)) == 1, timeout=30)
    os.kill(_children(worker.pid)[0], signal.SIGKILL)
    assert worker.wait(timeout=30) == 1  # its supervisor restarts the whole worker


def test_a_sender_whose_worker_is_killed_stops_too(worker) -> None:
    wait_until(lambda: len(_children(worker.pid)) == 1, timeout=30)
    [sender] = _children(worker.pid)
    worker.kill()
    worker.wait(timeout=30)
    wait_until(lambda: _gone(sender), timeout=30)
