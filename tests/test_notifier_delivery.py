"""The notifier as real processes: RabbitMQ, the notifier's web and worker, an SMTP sink in its own process.

Events are published to the broker as their producers' relays publish them (the envelope, the event type as
routing key); the emails are read back from the sink's spool. Rules: D-ACC-3, D-ACC-5, D-ACC-6, D-ACC-8.
"""

from __future__ import annotations

import email.utils
import json
import urllib.error
import urllib.request
import uuid
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pika
import pytest
from bench.bench_common import publish_events
from notifier.messaging.catalogue import ALL_ADDRESSES, MESSAGES
from notifier.samples import (
    PDF,
    SECRETS,
    TEMPORARY_PASSWORD,
    account_registered,
    message_event,
)
from polis.events import Event, broker
from polis.rpc import RpcClient, RpcUnavailable
from polis.testing.helpers import wait_until
from support.broker import parking
from support.stack import ManagedProcess, SystemStack

pytestmark = pytest.mark.slow

WORKER = "notifier-worker"
DELIVERIES = "/api/notifier/v1/deliveries"
OPS_TOKEN = "dev-notifier-ops-token"
PERSONAL = "mario.rossi@example.org"
INSTITUTIONAL = "mario.rossi@istruzione.it"
# The messages that go to every address of the account (recoveries, the unlock link...), by their policy.
RECOVERY = tuple(event_type for event_type, kind in MESSAGES.items() if kind.recipients == ALL_ADDRESSES)
# Short waits so that retries, leases and parking happen within a test.
FAST = {
    "NOTIFIER_SEND_POLL_INTERVAL": "0.1",
    "NOTIFIER_SEND_RETRY_DELAYS": "0.5,1,2",
    "NOTIFIER_SENDING_LEASE_SECONDS": "3",
    "NOTIFIER_RETRY_DELAYS": "0.3,0.6",  # the consumer's: an unknown account is parked after two retries
    "NOTIFIER_SMTP_TIMEOUT": "5",
}


# --- helpers --------------------------------------------------------------------------------------------


def start(stack_factory: Any, *, databases: str = "sqlite", **worker_env: str) -> SystemStack:
    return stack_factory(
        services=("notifier",),
        gateway=False,
        demo_data=False,
        databases=databases,
        process_env={WORKER: {**FAST, **worker_env}},
    )


def publish(stack: SystemStack, *events: Event) -> None:
    """Publish events as a relay does: persistent, confirmed, the type as routing key."""
    publish_events(stack.broker_url, events, bind_to=broker.main_queue("notifier"))


def ops(
    stack: SystemStack, path: str, *, method: str = "GET", token: str | None = OPS_TOKEN
) -> tuple[int, Any]:
    request = urllib.request.Request(stack.api("notifier", path), method=method)  # noqa: S310 - local
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local test URL
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def deliveries(stack: SystemStack, **query: str) -> list[dict[str, Any]]:
    status, body = ops(
        stack, DELIVERIES + "?" + "&".join(f"{k}={v}" for k, v in {"limit": "500", **query}.items())
    )
    assert status == 200, body
    return body["items"]


def by_message_id(stack: SystemStack) -> dict[str, list[EmailMessage]]:
    found: dict[str, list[EmailMessage]] = {}
    for message in stack.smtp.messages():
        found.setdefault(str(message["Message-ID"]), []).append(message)
    return found


def message_id(event: Event) -> str:
    return f"<{event.id}@polis>"


def body_text(message: EmailMessage) -> str:
    return "\n".join(
        part.get_content()
        for part in message.walk()
        if part.get_content_maintype() == "text" and not part.is_attachment()
    )


def recipients(message: EmailMessage) -> list[str]:
    return [address for _name, address in email.utils.getaddresses([str(message["To"])])]


def second_worker(stack: SystemStack) -> ManagedProcess:
    """Another notifier worker on the same queue and database, as a second replica would be."""
    first = stack.process(WORKER)
    worker = ManagedProcess(
        f"{WORKER}-2",
        list(first.argv),
        cwd=first.cwd,
        env=dict(first.env),
        log_path=first.log_path.with_name(f"{WORKER}-2.log"),
    )
    stack.processes[worker.name] = worker
    worker.start()
    # Ready means consuming and sending: only then can the test expect both replicas to share the work.
    wait_until(lambda: "consuming" in worker.log_text() and "mail-sender" in worker.log_text(), timeout=60)
    return worker


def two_accounts(stack: SystemStack) -> tuple[Event, Event]:
    """An ordinary account in Italian (personal address only), an MI account in English (both addresses)."""
    ordinary = account_registered(language="it")
    mi = account_registered(kind="mi", language="en", institutional_email=INSTITUTIONAL)
    publish(stack, ordinary, mi)
    return ordinary, mi


# --- every message, both languages, recipients per policy ---------------------------------------------------


def test_every_message_kind_is_delivered_in_both_languages_with_attachments_and_recipients_per_policy_d_acc_8(
    stack_factory: Any,
) -> None:
    stack = start(stack_factory)
    ordinary, mi = two_accounts(stack)
    # The revocation notice last: after it the account is revoked and nothing else is sent to it.
    types = [t for t in MESSAGES if t != "iam.account_revoked"] + ["iam.account_revoked"]
    events = {
        (account.data["language"], event_type): message_event(event_type, account.data["account_id"])
        for account in (ordinary, mi)
        for event_type in types
    }
    publish(stack, *events.values())

    wait_until(lambda: len(deliveries(stack, state="sent")) >= len(events), timeout=90)
    received = stack.smtp.messages()
    assert len(received) == len(events), [
        (d["kind"], d["state"], d["last_error"]) for d in deliveries(stack) if d["state"] != "sent"
    ]
    mails = by_message_id(stack)
    for (language, event_type), event in events.items():
        [mail] = mails[message_id(event)]
        kind = MESSAGES[event_type]
        assert mail["Content-Language"] == language
        assert mail["Subject"].startswith("Istanze OnLine: ")
        text = body_text(mail)
        assert ("Gentile Mario Rossi" if language == "it" else "Dear Mario Rossi") in text
        assert "080 9267603" in text  # the helpdesk in the footer (D-ACC-9)
        assert "sealed:v1:" not in text
        for name, secret in SECRETS.items():
            if name in event.data:
                assert secret in text, (event_type, name)
        attachments = [part for part in mail.iter_attachments()]
        assert len(attachments) == len(kind.attachments), event_type
        for part in attachments:
            assert part.get_content_type() == "application/pdf"
            assert part.get_content() == PDF
        # Recipients (D-ACC-8): recovery to every address, the verification to its own, the notice of a
        # replaced personal email to the previous one, else the reference.
        expected: list[str]
        if event_type == "iam.email_verification_requested":
            expected = ["nuovo.indirizzo@example.org"]
        elif event_type == "iam.personal_email_replaced":  # the previous address (issue 13 item 6)
            expected = ["vecchio.indirizzo@example.org"]
        elif language == "it":
            expected = [PERSONAL]
        elif event_type in RECOVERY:
            expected = [INSTITUTIONAL, PERSONAL]
        elif event_type == "iam.registration_confirmation_requested":
            expected = [PERSONAL]
        else:
            expected = [INSTITUTIONAL]
        assert recipients(mail) == expected, event_type
    envelopes = {tuple(envelope["rcpt_tos"]) for envelope in stack.smtp.envelopes()}
    assert (INSTITUTIONAL, PERSONAL) in envelopes
    # The delivery log has them all, by account and kind, sent once each.
    mi_log = deliveries(stack, account_id=mi.data["account_id"])
    assert len(mi_log) == len(types) and {item["state"] for item in mi_log} == {"sent"}
    assert [item["kind"] for item in deliveries(stack, kind="temporary_password")] == [
        "temporary_password"
    ] * 2


def test_a_temporary_password_is_in_clear_only_in_the_email_not_logs_delivery_log_database_or_broker_d_acc_6(
    stack_factory: Any,
) -> None:
    stack = start(stack_factory)
    account = account_registered()
    event = message_event("iam.temporary_password_issued", account.data["account_id"])
    # A queue of our own on the exchange: what the broker carries for this event type.
    connection = pika.BlockingConnection(pika.URLParameters(stack.broker_url))
    channel = connection.channel()
    spy = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(spy, broker.EXCHANGE, routing_key=event.type)
    publish(stack, account, event)

    [mail] = stack.smtp.wait_for(1, timeout=60)
    assert TEMPORARY_PASSWORD in body_text(mail)  # it does reach the user
    wait_until(lambda: deliveries(stack, state="sent"), timeout=30)

    _method, _properties, on_the_wire = channel.basic_get(spy, auto_ack=True)
    connection.close()
    assert on_the_wire is not None and b"sealed:v1:" in on_the_wire
    assert TEMPORARY_PASSWORD.encode() not in on_the_wire
    assert TEMPORARY_PASSWORD not in stack.log(WORKER) and TEMPORARY_PASSWORD not in stack.log("notifier-web")
    assert TEMPORARY_PASSWORD not in json.dumps(deliveries(stack))
    database_files = list(Path(stack.base_dir).glob("notifier.sqlite3*"))
    assert database_files
    for path in database_files:
        assert TEMPORARY_PASSWORD.encode() not in path.read_bytes()


# --- SMTP failures ----------------------------------------------------------------------------------------


def test_while_smtp_is_down_messages_wait_and_are_delivered_once_it_is_back(stack_factory: Any) -> None:
    stack = start(stack_factory)
    account = account_registered()
    publish(stack, account)
    stack.smtp.stop()  # connections refused from now on
    events = [message_event("iam.password_changed", account.data["account_id"]) for _ in range(3)]
    publish(stack, *events)

    wait_until(
        lambda: (
            (items := deliveries(stack)) and all(i["attempts"] >= 2 and i["state"] == "queued" for i in items)
        ),
        timeout=60,
    )
    assert all("connect" in (item["last_error"] or "") for item in deliveries(stack))
    stack.smtp.start()

    wait_until(lambda: len(deliveries(stack, state="sent")) == 3, timeout=60)
    mails = by_message_id(stack)
    assert sorted(mails) == sorted(message_id(event) for event in events)
    assert all(len(copies) == 1 for copies in mails.values())


def test_a_temporary_refusal_is_retried_until_accepted(stack_factory: Any) -> None:
    stack = start(stack_factory)
    account = account_registered()
    publish(stack, account)
    stack.smtp.set_reply(451)
    event = message_event("iam.password_changed", account.data["account_id"])
    publish(stack, event)

    wait_until(
        lambda: [i for i in deliveries(stack) if i["attempts"] >= 2 and "451" in (i["last_error"] or "")]
    )
    stack.smtp.set_reply(None)

    wait_until(lambda: deliveries(stack, state="sent"), timeout=60)
    assert list(by_message_id(stack)) == [message_id(event)]


def test_a_permanent_refusal_fails_at_once_is_visible_to_operators_and_can_be_resent(
    stack_factory: Any,
) -> None:
    stack = start(stack_factory)
    account = account_registered()
    publish(stack, account)
    stack.smtp.set_reply(550)
    event = message_event("iam.password_changed", account.data["account_id"])
    publish(stack, event)

    wait_until(lambda: deliveries(stack, state="failed"), timeout=60)
    [failed] = deliveries(stack, state="failed")
    assert failed["attempts"] == 1 and failed["last_error"].startswith("550")
    assert failed["event_id"] == event.id and failed["account_id"] == account.data["account_id"]
    assert stack.smtp.count() == 0
    # The ops API needs the operator token.
    assert ops(stack, DELIVERIES, token=None)[0] == 401
    assert ops(stack, DELIVERIES, token="wrong")[0] == 401
    assert ops(stack, f"{DELIVERIES}/{failed['id']}/resend", method="POST", token=None)[0] == 401

    stack.smtp.set_reply(None)
    status, resent = ops(stack, f"{DELIVERIES}/{failed['id']}/resend", method="POST")
    assert (status, resent["state"]) == (200, "queued")

    wait_until(lambda: deliveries(stack, state="sent"), timeout=30)
    assert list(by_message_id(stack)) == [message_id(event)]
    assert ops(stack, f"{DELIVERIES}/{failed['id']}/resend", method="POST")[0] == 409  # only failed ones


# --- exactly once -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("databases", ["sqlite", "postgresql"])
def test_a_worker_killed_mid_batch_sends_every_message_exactly_once_after_restart(
    stack_factory: Any, databases: str
) -> None:
    stack = start(
        stack_factory,
        databases=databases,
        POLIS_ENV="test",
        POLIS_FAULT="notifier_kill_mid_batch",
        NOTIFIER_SEND_BATCH_SIZE="50",
        NOTIFIER_SENT_FLUSH_EVERY="5",
        NOTIFIER_SMTP_CONNECTIONS="1",
    )
    worker = stack.process(WORKER)
    account = account_registered()
    publish(stack, account)
    worker.stop()  # the events wait in the queue, so the sender's first batch is a full one
    events = [message_event("iam.password_changed", account.data["account_id"]) for _ in range(60)]
    publish(stack, *events)
    worker.start()

    wait_until(lambda: not worker.running, timeout=60)
    assert worker.returncode == -9  # SIGKILL by its own hand, after 5 accepted and recorded, 45 claimed
    sent_before = stack.smtp.count()
    assert 0 < sent_before < len(events)
    worker.env.pop("POLIS_FAULT")
    stack.start_process(WORKER)

    wait_until(lambda: stack.smtp.count() >= len(events), timeout=90)
    wait_until(lambda: len(deliveries(stack, state="sent")) == len(events), timeout=30)
    counts = Counter(str(message["Message-ID"]) for message in stack.smtp.messages())
    assert counts == Counter(message_id(event) for event in events)  # each once: none twice, none lost


@pytest.mark.parametrize("databases", ["sqlite", "postgresql"])
def test_two_notifier_workers_on_one_queue_and_database_send_each_message_once(
    stack_factory: Any, databases: str
) -> None:
    stack = start(
        stack_factory, databases=databases, NOTIFIER_SEND_BATCH_SIZE="20", NOTIFIER_SENT_FLUSH_EVERY="5"
    )
    other = second_worker(stack)
    account = account_registered()
    publish(stack, account)
    events = [message_event("iam.password_changed", account.data["account_id"]) for _ in range(300)]
    publish(stack, *events)

    wait_until(lambda: stack.smtp.count() >= len(events), timeout=120)
    wait_until(lambda: len(deliveries(stack, state="sent")) == len(events), timeout=30)
    counts = Counter(str(message["Message-ID"]) for message in stack.smtp.messages())
    assert counts == Counter(message_id(event) for event in events)
    # Both replicas did part of the work.
    assert '"emails sent"' in stack.log(WORKER) and '"emails sent"' in other.log_text()
    other.stop()


# --- bad input --------------------------------------------------------------------------------------------


def test_bad_events_are_parked_with_their_reason_and_nothing_is_sent(stack_factory: Any) -> None:
    stack = start(stack_factory)
    unknown_account = message_event("iam.password_changed", "7c1b4a36-93d2-4d7e-8b0a-1f2e3d4c5b6a")
    broken = message_event("iam.password_changed", "7c1b4a36-93d2-4d7e-8b0a-1f2e3d4c5b6a")
    broken.data["note"] = "a field the contract does not have"
    publish(stack, unknown_account, broken)
    # An event type the notifier has no message for, put straight on its queue.
    stray = Event.new("polis.test_happened", {"n": 1}, producer="test")
    connection = pika.BlockingConnection(pika.URLParameters(stack.broker_url))
    connection.channel().basic_publish(
        "",
        broker.main_queue("notifier"),
        stray.to_json(),
        pika.BasicProperties(message_id=stray.id, type=stray.type),
    )
    connection.close()

    wait_until(lambda: len(parking(stack.broker_url, "list")) == 3, timeout=60)
    reasons = {item["id"]: item["reason"] for item in parking(stack.broker_url, "list")}
    assert "UnknownAccount" in reasons[unknown_account.id] and "failed 3 times" in reasons[unknown_account.id]
    assert reasons[broken.id].startswith("malformed:") and "note" in reasons[broken.id]
    assert reasons[stray.id] == "no handler for polis.test_happened"
    assert deliveries(stack) == [] and stack.smtp.count() == 0


def test_a_message_for_an_account_iam_does_not_hold_is_parked_at_once_issue_17(stack_factory: Any) -> None:
    """Not after the retries (minutes): IAM, asked over RPC, says the account can never appear."""
    stack = stack_factory(
        services=("iam", "notifier"),
        gateway=False,
        demo_data=False,
        process_env={WORKER: {**FAST, "NOTIFIER_RETRY_DELAYS": "120,240"}},
    )
    iam = RpcClient(stack.broker_url, timeout=5)

    def iam_answers() -> bool:
        try:
            return iam.call("iam.account_exists", {"account_id": str(uuid.uuid4())}) == {"exists": False}
        except RpcUnavailable:
            return False

    wait_until(iam_answers, timeout=60, interval=0.5)
    iam.close()
    never = message_event("iam.password_changed", str(uuid.uuid4()))
    publish(stack, never)

    # Parked well before the first retry's 120 s.
    wait_until(lambda: len(parking(stack.broker_url, "list")) == 1, timeout=60)
    [parked] = parking(stack.broker_url, "list")
    assert parked["id"] == never.id and parked["attempt"] == 0
    assert parked["reason"] == f"unprocessable: account {never.data['account_id']} does not exist in IAM"
    assert deliveries(stack) == [] and stack.smtp.count() == 0
