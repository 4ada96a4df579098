"""No secret in clear at rest or in transit (issue 17 item 5; ARCHITECTURE.md: secrets that must reach the
notifier travel sealed for it and are never logged).

One stack on PostgreSQL with a tap on the broker (RabbitMQ's firehose: every message published in the
stack's virtual host, events and RPC requests and replies alike) runs the e2e flows that handle secrets:
a submission with the personal code, enablement with a temporary personal code and its change, the unlock
link, registration with its confirmation link and password, username recovery and recovery with a
temporary password and its change, and an ops client created with its secret. The test collects every
secret it saw in clear - what it typed, and what the emails the SMTP sink received carried (the one place
a temporary secret must travel, so the sink's mailbox is not scanned) - then scans every log line of every
process, every row of every table of every service database (the notifier's delivery log included) and
every tapped message for each value and its obvious encodings (URL-encoded, base64, hex): none found.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

import pika
import psycopg
import pytest
import test_enablement_e2e
import test_istanze_submission_e2e
import test_login_unlock_e2e
import test_recovery_e2e
import test_registration_e2e
from iam.demo import DEMO_ACCOUNTS
from support.broker import _ctl
from support.stack import SystemStack

TAP = "secrets-tap"
OPS = {"Authorization": "Bearer polis-dev-ops-token", "Content-Type": "application/json"}
# Words around a secret in the notifier's emails (Italian templates).
IN_EMAIL = re.compile(
    r"(?P<kind>password temporanea è|codice personale temporaneo è|codice personale[^:\n]*|password[^:\n]*)"
    r":\s*(?P<value>\S+)"
)
KINDS = {"password temporanea": "temporary password", "personale temporaneo": "temporary code"}
URL = re.compile(r"https?://[^\s\"'<>]+")
MIN_TOKEN = 16  # a path segment or query value this long in an emailed link is a token


def token_like(text: str) -> bool:
    """Random enough to be a token, not a word of a page's path such as recupero-username."""
    return len(text) >= MIN_TOKEN and any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


@dataclass
class Secrets:
    """label -> value, for every secret the test saw in clear."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, label: str, value: str | None) -> None:
        if value and len(value) >= 6:
            self.values.setdefault(value, label)

    def from_emails(self, stack: SystemStack) -> int:
        messages = stack.smtp.messages()
        for message in messages:
            text = test_registration_e2e.body_text(message)
            for found in IN_EMAIL.finditer(text):
                words = found["kind"]
                kind = next((name for key, name in KINDS.items() if key in words), "emailed secret")
                self.add(f"{kind} ({message['Subject']})", found["value"].rstrip(".,;"))
            for link in URL.findall(text):
                parts = urllib.parse.urlsplit(link.rstrip(".,;)"))
                for segment in parts.path.split("/"):
                    if token_like(segment):
                        self.add(f"link token ({message['Subject']})", unquote(segment))
                for _name, value in urllib.parse.parse_qsl(parts.query):
                    if token_like(value):
                        self.add(f"link token ({message['Subject']})", value)
        return len(messages)


def encodings(value: str) -> dict[str, bytes]:
    """The needles of one secret: as it is, URL-encoded, JSON-escaped, hex, and base64 at each alignment."""
    raw = value.encode()
    needles = {
        "clear": raw,
        "url-encoded": urllib.parse.quote(value, safe="").encode(),
        "form-encoded": urllib.parse.quote_plus(value).encode(),
        "json": json.dumps(value)[1:-1].encode(),
        "hex": binascii.hexlify(raw),
    }
    for offset in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            encoded = encode(b"\0" * offset + raw).rstrip(b"=")
            start = -(-offset * 4 // 3)  # the characters that mix in the filler
            end = len(encoded) - (1 if (offset + len(raw)) % 3 else 0)  # and those that mix in the end
            if end - start >= 8:
                needles[f"{name}@{offset}"] = encoded[start:end]
    return {name: needle for name, needle in needles.items() if len(needle) >= 6}


@dataclass
class Scan:
    secrets: Secrets
    findings: list[str] = field(default_factory=list)
    counted: Counter[str] = field(default_factory=Counter)

    def look(self, where: str, blob: bytes) -> None:
        lowered = blob.lower()
        for value, label in self.secrets.values.items():
            for encoding, needle in encodings(value).items():
                haystack = lowered if encoding == "hex" else blob
                if needle in haystack:
                    at = haystack.index(needle)
                    context = blob[max(0, at - 80) : at + len(needle) + 40].decode(errors="replace")
                    self.findings.append(f"{label} ({encoding}) in {where}: ...{context}...")


# --- the tap ----------------------------------------------------------------------------------------------


def vhost_of(url: str) -> str:
    return unquote(url.rsplit("/", 1)[1])


def open_tap(stack: SystemStack) -> None:
    """A queue on the firehose of the stack's virtual host: a copy of every message published in it."""
    connection = pika.BlockingConnection(pika.URLParameters(stack.broker_url))
    try:
        channel = connection.channel()
        channel.queue_declare(TAP, durable=True)
        channel.queue_bind(TAP, "amq.rabbitmq.trace", routing_key="publish.#")
    finally:
        connection.close()
    _ctl(stack.rabbitmq, "trace_on", "-p", vhost_of(stack.broker_url))


def drain_tap(stack: SystemStack) -> Iterator[tuple[str, bytes]]:
    _ctl(stack.rabbitmq, "trace_off", "-p", vhost_of(stack.broker_url))
    connection = pika.BlockingConnection(pika.URLParameters(stack.broker_url))
    try:
        channel = connection.channel()
        while True:
            method, properties, body = channel.basic_get(TAP, auto_ack=True)
            if method is None:
                return
            headers = properties.headers or {}
            exchange = headers.get("exchange_name", "")
            keys = headers.get("routing_keys") or []
            yield f"{exchange or '(default exchange)'} {keys}", repr(headers).encode() + b"\n" + body
    finally:
        connection.close()


# --- the tables -------------------------------------------------------------------------------------------


def rows(url: str) -> Iterator[tuple[str, str]]:
    """(table, row as text) for every row of every table of a PostgreSQL database."""
    dsn = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
    with psycopg.connect(dsn) as connection:
        tables = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            found = connection.execute(f"SELECT t::text FROM {name} t").fetchall()  # noqa: S608 - catalog names
            if not found:
                yield name, ""
            for (text,) in found:
                yield name, text


# --- the flows --------------------------------------------------------------------------------------------


def create_ops_client(stack: SystemStack, secrets: Secrets) -> None:
    """An ops client (client credentials) created by ops: IAM generates its secret and shows it once."""
    body = {
        "name": "Secrets scan reports",
        "trusted": True,
        "grant_types": ["client_credentials"],
        "scopes": ["istanze"],
        "service_roles": ["ops"],
    }
    request = urllib.request.Request(  # noqa: S310 - the local stack
        stack.api("iam", "/api/iam/v1/ops/oidc-clients/secrets-scan-reports"),
        data=json.dumps(body).encode(),
        headers=OPS,
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        answer = json.loads(response.read())
    secret = answer["client_secret"]
    secrets.add("ops client secret", secret)
    basic = base64.b64encode(f"secrets-scan-reports:{secret}".encode()).decode()
    secrets.add("ops client basic credentials", basic)
    grant = urllib.request.Request(  # noqa: S310 - the local stack
        stack.url("/oidc/token"),
        data=b"grant_type=client_credentials&scope=istanze",
        headers={"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(grant, timeout=30) as response:  # noqa: S310
        assert json.loads(response.read())["access_token"]


def typed_secrets(secrets: Secrets) -> None:
    """What the flows type: passwords, personal codes, security answers, wrong passwords too."""
    for module, names in (
        (test_registration_e2e, ("PASSWORD",)),
        (test_recovery_e2e, ("NEW_PASSWORD",)),
        (test_enablement_e2e, ("ALNUM_PASSWORD", "ANSWER", "NEW_CODE")),
        (test_istanze_submission_e2e, ("PERSONAL_CODE",)),
        (test_login_unlock_e2e, ("WRONG",)),
    ):
        for name in names:
            secrets.add(f"typed {module.__name__}.{name}", getattr(module, name))
    secrets.add("typed security answer of the registration flow", "Oberto")
    secrets.add("typed istanze MARIO password", test_istanze_submission_e2e.MARIO[1])
    for account in DEMO_ACCOUNTS:
        if account.username in ("mario.rossi", "sara.conti"):
            secrets.add(f"demo password of {account.username}", account.password)


def test_issue_17_item_5_no_secret_in_clear_in_logs_tables_broker_messages_or_the_delivery_log(
    stack_factory: Callable[..., SystemStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = stack_factory(
        databases="postgresql",
        env={
            "IAM_LOGIN_LOCK_THRESHOLD": str(test_login_unlock_e2e.CEILING),
            "IAM_LOGIN_MAX_CONSECUTIVE_FAILURES": str(test_login_unlock_e2e.CEILING),
        },
    )
    open_tap(stack)
    secrets = Secrets()
    typed_secrets(secrets)
    same = lambda **_options: stack  # noqa: E731 - the flows' own stack options are this stack's
    emails = 0

    def flow(run: Callable[[], None]) -> None:
        nonlocal emails
        run()
        emails += secrets.from_emails(stack)
        stack.smtp.clear()  # each flow counts its own emails

    flow(
        lambda: (
            test_istanze_submission_e2e.test_submit_receipt_by_email_withdraw_resubmit_and_read_only_after_the_deadline(
                stack
            )
        )
    )
    flow(lambda: test_enablement_e2e.test_request_email_form_identification_and_activation(same))
    flow(
        lambda: (
            test_login_unlock_e2e.test_issue_11_item_5_the_owner_unlocks_the_ceiling_with_the_emailed_link_then_logs_in(
                same
            )
        )
    )
    flow(
        lambda: (
            test_registration_e2e.test_d_acc_3_register_confirm_by_email_link_get_the_username_and_a_second_attempt_tells_the_owner(
                stack
            )
        )
    )
    flow(
        lambda: (
            test_recovery_e2e.test_d_acc_5_d_acc_6_recover_the_username_then_log_in_once_with_the_temporary_password(
                stack
            )
        )
    )
    flow(lambda: create_ops_client(stack, secrets))
    labels = Counter(label.split(" (")[0] for label in secrets.values.values())
    # The scan has something to look for: the temporary password (recovery), the temporary personal code
    # (enablement), the registration and unlock links' tokens, the ops client's secret.
    assert labels["temporary password"] >= 1 and labels["temporary code"] >= 1, labels
    assert labels["link token"] >= 2 and labels["ops client secret"] == 1, labels

    scan = Scan(secrets)
    for name, process in sorted(stack.processes.items()):
        text = process.log_text()
        scan.counted["log lines"] += text.count("\n")
        scan.look(f"the log of {name}", text.encode())
    scan.counted["log lines"] += stack.rabbitmq.log_path.read_text(errors="replace").count("\n")
    scan.look("RabbitMQ's log", stack.rabbitmq.log_path.read_bytes())
    tables: set[str] = set()
    for service in stack.config.services:
        for table, text in rows(stack.database_url(service)):
            tables.add(f"{service}:{table}")
            if text:
                scan.counted["rows"] += 1
                scan.look(f"{service}'s table {table}", text.encode())
    scan.counted["tables"] = len(tables)
    for route, blob in drain_tap(stack):
        scan.counted["broker messages"] += 1
        if "(default" in route:
            scan.counted["of them on the default exchange (RPC requests and replies)"] += 1
        scan.look(f"a message published on {route}", blob)
    print(  # the figures of the run (pytest -s)
        f"secret scan: {len(secrets.values)} secrets ({dict(labels)}) from {emails} emails;"
        f" {dict(scan.counted)}; delivery log: {sorted(t for t in tables if t.startswith('notifier:'))}"
    )

    assert scan.counted["broker messages"] > 0 and scan.counted["rows"] > 0
    assert scan.findings == [], "\n".join(scan.findings)
