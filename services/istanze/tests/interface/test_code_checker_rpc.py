"""D-IST-2: istanze asks enablement.check_personal_code over a real RabbitMQ (polis.rpc): the personal code
reaches the responder opened (it travelled sealed), the reply comes back as the contract says, and no
responder is RpcUnavailable (the API's 503). The responder here stands in for enablement's worker, whose
own handler and throttling enablement tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from istanze.applications.enablement import RpcCodeChecker
from polis.rpc import RpcResponder, RpcUnavailable, queue_name
from polis.testing.helpers import Threads, wait_until
from polis.testing.rabbitmq import RabbitMQNode, delete_queue

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("rabbitmq_running")]
METHOD = "enablement.check_personal_code"


@pytest.fixture
def enablement(rabbitmq: RabbitMQNode) -> Iterator[list[dict[str, Any]]]:
    delete_queue(rabbitmq.url, queue_name("enablement"))
    seen: list[dict[str, Any]] = []

    def handle(payload: dict[str, Any]) -> dict[str, Any]:
        seen.append(payload)
        if payload["personal_code"] == "Codice-1":
            return {"valid": True, "status": "ok"}
        return {"valid": False, "status": "wrong"}

    threads = Threads()
    responder = RpcResponder(rabbitmq.url, service="enablement", handlers={METHOD: handle}, heartbeat=5)
    threads.start(lambda: responder.run(threads.stop_event))
    wait_until(responder.ready.is_set)
    yield seen
    threads.stop()


def test_d_ist_2_the_personal_code_is_checked_by_enablement_over_rabbitmq(
    enablement: list[dict[str, Any]], rabbitmq: RabbitMQNode
) -> None:
    check = RpcCodeChecker(rabbitmq.url, timeout=5)
    account = uuid.uuid4()

    assert check(account, "Codice-1") == {"valid": True, "status": "ok"}
    assert check(account, "sbagliato") == {"valid": False, "status": "wrong"}
    assert [p["personal_code"] for p in enablement] == ["Codice-1", "sbagliato"]
    assert enablement[0]["account_id"] == str(account)


def test_d_ist_2_no_enablement_responder_is_unavailable(rabbitmq: RabbitMQNode) -> None:
    delete_queue(rabbitmq.url, queue_name("enablement"))
    with pytest.raises(RpcUnavailable):
        RpcCodeChecker(rabbitmq.url, timeout=1)(uuid.uuid4(), "Codice-1")
