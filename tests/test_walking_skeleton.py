"""The walking skeleton under faults, with real processes: a registration (D-ACC-3) goes through the gateway
to IAM, its confirmation link through IAM's outbox and RabbitMQ to the notifier, and leaves as exactly one
email at the SMTP sink, even when the broker is down, the worker crashes before acking, a handler keeps
failing or an event is bad. The skeleton's own endpoint, which mailed any address, is retired (issue 11
item 4): it answers 404 and sends nothing.
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import pika
import pytest
from polis.events import Event, broker
from polis.testing.helpers import wait_until
from support.broker import parking
from support.registration_flow import SUBMIT, register
from support.stack import SystemStack

pytestmark = pytest.mark.slow

RETIRED = "/api/iam/v1/email-confirmations"  # the skeleton's endpoint until issue 11 item 4
DELIVERIES = "/api/notifier/v1/deliveries"
CONFIRM_PATH = "/iam/registrazione/conferma/"
CONFIRM_LINK = re.compile(r"(\S*/iam/registrazione/conferma/([A-Za-z0-9_.\-]+))")
EVENT_TYPE = "iam.registration_confirmation_requested"
REGISTERED_TYPE = "iam.account_registered"
WORKER = "notifier-worker"
PROCESSES = ("gateway", "iam-web", "iam-worker", "notifier-web", "notifier-worker")
RETRY_DELAYS = (0.3, 0.6, 1.2)
EMAIL_TIMEOUT = 60.0  # the relay and the consumer back off up to 30 s after a broker outage


# --- helpers --------------------------------------------------------------------------------------------


def new_email() -> str:
    return f"citizen-{uuid.uuid4().hex[:10]}@example.org"


def request_confirmation(stack: SystemStack, email: str) -> tuple[int, dict[str, Any]]:
    """A whole registration through the gateway with `email` as the personal address: its last step
    records the account and the confirmation link's event in IAM's outbox (202)."""
    return register(stack, email)  # type: ignore[no-any-return]


def post_retired(stack: SystemStack, email: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - local test URL
        stack.url(RETIRED),
        data=json.dumps({"email": email, "language": "it"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - local test URL
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def emails_to(stack: SystemStack, address: str) -> list[EmailMessage]:
    return stack.smtp.emails_to(address)


def wait_for_one_email(stack: SystemStack, address: str, timeout: float = EMAIL_TIMEOUT) -> EmailMessage:
    """Wait until an email to `address` arrives, then make sure it is the only one."""
    found = stack.smtp.wait_for_email(address, timeout=timeout)
    assert len(found) == 1, f"{len(found)} emails to {address}"
    return found[0]


def body_text(message: EmailMessage) -> str:
    return "\n".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")


def confirmation_link(message: EmailMessage) -> tuple[str, str]:
    """The link in the email and its token."""
    match = CONFIRM_LINK.search(body_text(message))
    assert match, f"no confirmation link in:\n{body_text(message)}"
    return match.group(1), match.group(2)


def deliveries_raw(stack: SystemStack) -> str:
    request = urllib.request.Request(  # noqa: S310 - local test URL
        stack.api("notifier", DELIVERIES), headers={"Authorization": "Bearer dev-notifier-ops-token"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200
        return response.read().decode()


def deliveries_to(stack: SystemStack, address: str) -> list[dict[str, Any]]:
    return [item for item in json.loads(deliveries_raw(stack))["items"] if item["recipient"] == address]


def queue_depth(stack: SystemStack, queue: str) -> int:
    """Ready messages in one queue of the stack's virtual host."""
    connection = pika.BlockingConnection(pika.URLParameters(stack.broker_url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def log_lines(stack: SystemStack, name: str) -> list[dict[str, Any]]:
    """The JSON lines of a process's log (other output, such as gunicorn's banner, is skipped)."""
    lines = []
    for raw in stack.log(name).splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def handler_failures(stack: SystemStack, event_type: str = "") -> list[dict[str, Any]]:
    """The worker's lines for failed handler calls (of one event type when given)."""
    return [
        line
        for line in log_lines(stack, WORKER)
        if line.get("logger") == "polis.events.consumer"
        and str(line.get("message", "")).startswith(f"handler for {event_type}")
    ]


def broker_warnings(stack: SystemStack, name: str) -> list[dict[str, Any]]:
    """Warnings of a process about the broker (unavailable, connection lost)."""
    return [
        line
        for line in log_lines(stack, name)
        if line.get("level") in ("warning", "error") and "broker" in str(line.get("message", ""))
    ]


def restart_worker_without_fault(stack: SystemStack) -> None:
    worker = stack.process(WORKER)
    worker.stop()
    worker.env.pop("POLIS_FAULT", None)
    stack.start_process(WORKER)


def faulty_worker(fault: str, **extra: str) -> dict[str, dict[str, str]]:
    return {WORKER: {"POLIS_ENV": "test", "POLIS_FAULT": fault, **extra}}


# --- the tests ------------------------------------------------------------------------------------------


def test_a_registration_through_the_gateway_sends_one_email_whose_link_is_logged_nowhere(
    stack: SystemStack,
) -> None:
    address, anyone = new_email(), new_email()
    # Issue 11 item 4: the skeleton's endpoint mailed any address; it is gone, with the JSON 404.
    retired_status, retired_body = post_retired(stack, anyone)
    assert retired_status == 404 and retired_body["error"]["code"] == "not_found"

    status, body = request_confirmation(stack, address)

    assert status == 202
    assert CONFIRM_PATH not in json.dumps(body)  # the link goes to the mailbox only
    message = wait_for_one_email(stack, address, timeout=30)
    link, token = confirmation_link(message)
    assert link.startswith(stack.gateway_url + CONFIRM_PATH)
    wait_until(lambda: [d for d in deliveries_to(stack, address) if d["state"] == "sent"])
    # Asked for before the registration, through the same gateway, IAM and notifier: nothing came of it.
    assert emails_to(stack, anyone) == [] and deliveries_to(stack, anyone) == []
    for name in stack.processes:
        assert token not in stack.log(name), f"the token is in the log of {name}"
    assert token not in deliveries_raw(stack)
    # One request id from the edge: the gateway's access line and IAM's carry the same one.
    at_gateway = [
        line
        for line in log_lines(stack, "gateway")
        if line.get("message") == "request" and line.get("path") == SUBMIT and line.get("status") == 202
    ]
    assert len(at_gateway) == 1 and at_gateway[0]["request_id"]
    at_iam = [
        line for line in log_lines(stack, "iam-web") if line.get("request_id") == at_gateway[0]["request_id"]
    ]
    assert any(line.get("message") == "request" and line.get("method") == "POST" for line in at_iam)


def test_a_request_made_while_the_broker_is_down_is_mailed_once_it_is_back(stack: SystemStack) -> None:
    address = new_email()
    assert broker_warnings(stack, "iam-worker") == []
    try:
        stack.rabbitmq.stop()

        status, _ = request_confirmation(stack, address)

        assert status == 202  # recorded with its event in IAM's outbox
        # The relay really tried and could not publish; meanwhile nothing was mailed.
        wait_until(lambda: broker_warnings(stack, "iam-worker"), timeout=30)
        assert emails_to(stack, address) == []
    finally:
        if not stack.rabbitmq.running:
            stack.rabbitmq.start().wait_ready()

    wait_for_one_email(stack, address)
    wait_until(lambda: [d for d in deliveries_to(stack, address) if d["state"] == "sent"], timeout=30)
    assert len(emails_to(stack, address)) == 1


@pytest.mark.parametrize("databases", ["sqlite", "postgresql"])
def test_a_worker_killed_after_commit_before_ack_delivers_exactly_once_after_restart(
    stack_factory: Any, databases: str
) -> None:
    stack = stack_factory(databases=databases, process_env=faulty_worker("crash_after_commit_before_ack"))
    worker = stack.process(WORKER)
    address = new_email()

    status, _ = request_confirmation(stack, address)

    assert status == 202
    wait_until(lambda: not worker.running, timeout=30)
    assert worker.returncode == -9  # SIGKILL, by its own hand, after the commit and before the ack

    restart_worker_without_fault(stack)

    wait_for_one_email(stack, address)
    wait_until(
        lambda: (
            queue_depth(stack, broker.main_queue("notifier")) == 0
            and [d for d in deliveries_to(stack, address) if d["state"] == "sent"]
        ),
        timeout=30,
    )
    # The redelivered event was recognised by its id: one delivery, one email.
    assert len(deliveries_to(stack, address)) == 1
    assert len(emails_to(stack, address)) == 1


def test_a_handler_that_keeps_failing_is_retried_with_growing_delays_then_parked_and_replayed(
    stack_factory: Any,
) -> None:
    delays = ",".join(str(delay) for delay in RETRY_DELAYS)
    stack = stack_factory(
        # No demo data: its accounts' iam.account_registered facts would fail (and be parked) here too.
        demo_data=False,
        process_env={
            "notifier": {"NOTIFIER_RETRY_DELAYS": delays},
            WORKER: {"POLIS_ENV": "test", "POLIS_FAULT": "handler_fails"},
        },
    )
    address = new_email()

    status, _ = request_confirmation(stack, address)
    assert status == 202

    # The registration's two events: the account fact the email needs, and the link's message.
    parked = wait_until(
        lambda: (rows := parking(stack.broker_url, "list")) and len(rows) >= 2 and rows, timeout=60
    )
    assert sorted(row["type"] for row in parked) == sorted([REGISTERED_TYPE, EVENT_TYPE])
    for row in parked:
        assert row["reason"].startswith(f"failed {len(RETRY_DELAYS) + 1} times"), row
    failures = handler_failures(stack, EVENT_TYPE)
    assert len(failures) == len(RETRY_DELAYS) + 1  # the first try and one per retry delay
    times = [datetime.fromisoformat(line["time"]) for line in failures]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    for gap, delay in zip(gaps, RETRY_DELAYS, strict=True):
        assert gap >= delay - 0.05, f"gaps {gaps} shorter than the delays {RETRY_DELAYS}"
    assert gaps == sorted(gaps), f"gaps {gaps} do not grow"
    assert emails_to(stack, address) == []
    assert deliveries_to(stack, address) == []

    restart_worker_without_fault(stack)
    assert parking(stack.broker_url, "replay", "--all") == {"replayed": 2}

    wait_for_one_email(stack, address, timeout=30)
    assert parking(stack.broker_url, "list") == []
    wait_until(lambda: [d for d in deliveries_to(stack, address) if d["state"] == "sent"])
    assert len(emails_to(stack, address)) == 1


def test_malformed_events_are_parked_at_once_without_retries(stack: SystemStack) -> None:
    raw_id = f"raw-{uuid.uuid4().hex[:8]}"
    bad = Event.new(
        EVENT_TYPE,
        {  # no account: well-formed JSON, but the contract is broken
            "confirmation_url": "not sealed",
            "expires_at": "2030-01-01T00:00:00+00:00",
        },
        producer="iam",
    )
    connection = pika.BlockingConnection(pika.URLParameters(stack.broker_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for message_id, body in ((raw_id, b"{not json"), (bad.id, bad.to_json())):
            channel.basic_publish(
                broker.EXCHANGE,
                EVENT_TYPE,
                body,
                pika.BasicProperties(
                    message_id=message_id,
                    type=EVENT_TYPE,
                    content_type="application/json",
                    delivery_mode=pika.DeliveryMode.Persistent.value,
                ),
                mandatory=True,
            )
    finally:
        connection.close()

    parked = wait_until(
        lambda: (rows := parking(stack.broker_url, "list")) and len(rows) >= 2 and rows, timeout=30
    )

    assert sorted(row["id"] for row in parked) == sorted([raw_id, bad.id])
    for row in parked:
        assert row["reason"].startswith("malformed"), row
        assert row["attempt"] == 0, row  # parked at the first delivery, never sent to a retry queue
    assert handler_failures(stack) == []
    parked_lines = [
        line for line in log_lines(stack, WORKER) if str(line.get("message", "")).startswith("parked message")
    ]
    assert len(parked_lines) == 2
    for number in range(1, len(RETRY_DELAYS) + 1):
        assert queue_depth(stack, broker.retry_queue("notifier", number)) == 0
    assert queue_depth(stack, broker.main_queue("notifier")) == 0
    assert stack.smtp.messages() == []
    assert json.loads(deliveries_raw(stack))["items"] == []


def test_iam_refuses_to_record_a_change_whose_event_breaks_its_contract(
    stack_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iam import events as iam_events
    from iam.accounts.models import Account
    from iam.audit.service import Origin
    from iam.config import load_settings
    from iam.models import outbox
    from iam.personal_area import service
    from iam.personal_area.models import EmailVerification
    from polis.db import Database
    from polis.events import contracts
    from sqlalchemy import func, select

    stack = stack_factory(services=("iam",), gateway=False)  # the demo accounts
    db = Database(stack.database_url("iam"))
    real_new = Event.new

    def without_email(event_type: str, data: dict[str, Any], **options: Any) -> Event:
        return real_new(event_type, {k: v for k, v in data.items() if k != "email"}, **options)

    class BrokenEvent:
        new = staticmethod(without_email)

    monkeypatch.setattr(iam_events, "Event", BrokenEvent)  # IAM's one way to make its events
    monkeypatch.setenv("POLIS_ENV", "dev")  # the dev sealing key and base URL
    policy = service.PersonalAreaPolicy.from_settings(load_settings())
    address = new_email()
    with db.transaction() as session:
        account_id, email_before = session.execute(
            select(Account.id, Account.personal_email).where(Account.username == "mario.rossi")
        ).one()
        events_before = session.scalar(select(func.count()).select_from(outbox))

    with pytest.raises(contracts.ContractViolation):
        service.request_email_change(
            db=db, policy=policy, account_id=account_id, email=address, origin=Origin()
        )

    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(outbox)) == events_before
        assert session.scalar(select(func.count()).where(EmailVerification.email == address)) == 0
        assert session.get_one(Account, account_id).personal_email == email_before
    assert emails_to(stack, address) == []
