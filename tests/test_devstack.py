"""The stack fixture itself: the system starts on free ports; one process can be killed and restarted."""

import json
import signal
import urllib.request

import pytest
from support.stack import SERVICES, SystemStack

pytestmark = pytest.mark.slow


def get(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local test URL
        return response.status, json.loads(response.read())


def test_every_service_is_ready_behind_the_gateway(stack: SystemStack) -> None:
    status, body = get(stack.url("/readyz?services=1"))

    assert status == 200
    assert body["services"] == dict.fromkeys(SERVICES, "up")
    for service in SERVICES:
        assert get(stack.api(service, "/readyz"))[0] == 200


def test_a_killed_worker_is_reported_and_can_be_restarted(stack: SystemStack) -> None:
    worker = stack.process("notifier-worker")
    first_pid = worker.pid

    stack.kill("notifier-worker")
    assert not worker.running
    assert worker.returncode == -signal.SIGKILL
    assert worker not in stack.unexpected_exits()  # a kill the test asked for is not a crash to report

    stack.start_process("notifier-worker")
    assert worker.running
    assert worker.pid != first_pid
    assert worker.log_path.is_file()


def test_services_run_on_postgresql_when_asked(stack_factory) -> None:
    stack = stack_factory(databases="postgresql", gateway=False, demo_data=False)

    for service in SERVICES:
        assert stack.database_url(service).startswith("postgresql")
        assert get(stack.api(service, "/readyz"))[0] == 200
