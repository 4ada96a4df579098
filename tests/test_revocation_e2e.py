"""Revocation rounds with real processes (issue 16): IAM's web and worker, RabbitMQ, the notifier and the SMTP
sink, the gateway and the login page. The deadline passes by the test clock file that IAM's processes read
(IAM_REVOCATION_CLOCK_FILE, POLIS_ENV=test only). Rules: D-REV-2, D-REV-3, D-REV-4, D-ACC-4."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from polis.db import Database
from polis.events import Event
from polis.events import outbox as events_outbox
from polis.testing.helpers import wait_until
from support.browser import Browser
from support.stack import StackFactory, SystemStack
from test_login_e2e import PASSWORD, log_in

pytestmark = pytest.mark.slow

OPS_TOKEN = "revocation-e2e-ops-token"
OPS = {"Authorization": f"Bearer {OPS_TOKEN}"}
ROUNDS = "/api/iam/v1/ops/revocation-rounds"
LONG_AGO = datetime(2014, 5, 1, tzinfo=UTC)
CUTOFF = "2015-03-01"
TIMEOUT = 90.0


def iam_env(clock_file: Path, **extra: str) -> dict[str, dict[str, str]]:
    """IAM's web and worker: the test clock, a short poll and small batches."""
    return {
        "iam": {
            "POLIS_ENV": "test",
            "IAM_OPS_TOKEN": OPS_TOKEN,
            "IAM_REVOCATION_CLOCK_FILE": str(clock_file),
            "IAM_REVOCATION_POLL_SECONDS": "0.3",
            "IAM_REVOCATION_BATCH_SIZE": "2",
            "IAM_REVOCATION_NOTICES_PER_SECOND": "0",
            **extra,
        }
    }


def add_account(
    stack: SystemStack,
    username: str,
    *,
    kind: str = "ordinary",
    last_access_at: datetime | None = LONG_AGO,
    created_at: datetime = LONG_AGO,
) -> uuid.UUID:
    """An account in IAM's database with its iam.account_registered fact (the notifier's copy)."""
    from iam.accounts.models import Account
    from iam.models import outbox
    from iam.passwords.hashing import hash_secret

    account_id = uuid.uuid4()
    database = Database(stack.database_url("iam"))
    with database.transaction() as session:
        session.add(
            Account(
                id=account_id,
                username=username,
                kind=kind,
                state="active",
                roles=[],
                codice_fiscale=uuid.uuid4().hex[:16].upper(),
                first_name="Lucia",
                last_name="Verdi",
                personal_email=f"{username}@example.org",
                personal_email_verified_at=created_at,
                institutional_email=f"{username}@istruzione.it" if kind == "mi" else None,
                language="it",
                password_hash=hash_secret(PASSWORD),
                credentials_version=1,
                failed_logins=0,
                created_at=created_at,
                activated_at=created_at,
                last_access_at=last_access_at,
            )
        )
        events_outbox.record(
            session,
            Event.new(
                "iam.account_registered",
                {
                    "account_id": str(account_id),
                    "kind": kind,
                    "state": "active",
                    "username": username,
                    "first_name": "Lucia",
                    "last_name": "Verdi",
                    "language": "it",
                    "personal_email": f"{username}@example.org",
                    "institutional_email": f"{username}@istruzione.it" if kind == "mi" else None,
                },
                producer="iam",
            ),
            outbox,
        )
    database.dispose()
    return account_id


def set_clock(clock_file: Path, days: float) -> None:
    from iam.revocation import clock

    clock.set_offset(clock_file, timedelta(days=days).total_seconds())


def deadline_in(days: float) -> str:
    from iam.revocation import service

    local = (datetime.now(UTC) + timedelta(days=days)).astimezone(service.ROME)
    return local.replace(tzinfo=None, microsecond=0).isoformat()


def ops(stack: SystemStack, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A call of IAM's ops API on IAM's own address (the gateway refuses /ops/ at the public edge)."""
    request = urllib.request.Request(  # noqa: S310 - the local stack
        stack.api("iam", ROUNDS + path),
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={**OPS, "Content-Type": "application/json"} if body is not None else OPS,
    )
    # An HTTP error raises, with its code.
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local stack
        return json.loads(response.read())


ANNOUNCED = "sarà revocata"  # the subjects of the notifier's two notices (Italian)
REVOKED = "stata revocata"


def mails_to(stack: SystemStack, username: str, subject: str) -> list[EmailMessage]:
    return [
        m
        for m in stack.smtp.messages()
        if f"{username}@example.org" in str(m["To"]) and subject in str(m["Subject"])
    ]


def round_of(stack: SystemStack, users: list[str]) -> str:
    """A round over `users`, previewed (the count checked) and announced."""
    round_id = ops(stack, "POST", "", {"cutoff": CUTOFF, "deadline": deadline_in(40)})["id"]
    assert ops(stack, "POST", f"/{round_id}/preview")["affected"] == len(users)
    ops(stack, "POST", f"/{round_id}/announce")
    return str(round_id)


def test_d_rev_3_a_round_announces_keeps_revokes_at_the_deadline_and_refuses_the_revoked(
    stack_factory: StackFactory, tmp_path: Path
) -> None:
    clock_file = tmp_path / "clock"
    stack = stack_factory(process_env=iam_env(clock_file))
    unused = ["anna.rossi", "bruno.neri", "carla.gialli"]
    for name in unused:
        add_account(stack, name)
    add_account(stack, "mario.mi", kind="mi")
    add_account(stack, "used.lately", last_access_at=datetime.now(UTC))

    round_id = round_of(stack, unused)
    wait_until(lambda: all(mails_to(stack, u, ANNOUNCED) for u in unused), timeout=TIMEOUT)
    # "Accedi" before the deadline keeps the account (D-REV-2).
    assert log_in(Browser(stack.url()), "carla.gialli", PASSWORD)[0] == 200
    set_clock(clock_file, 41)  # the deadline passes: IAM's worker executes on its own (D-REV-3)
    done = wait_until(
        lambda: (r := ops(stack, "GET", f"/{round_id}"))["state"] == "done" and r, timeout=TIMEOUT
    )

    assert done["counts"] == {
        "affected_at_preview": 3,
        "affected_at_announce": 3,
        "announced": 3,
        "kept": 1,
        "revoked": 2,
    }
    wait_until(
        lambda: mails_to(stack, "anna.rossi", REVOKED) and mails_to(stack, "bruno.neri", REVOKED),
        timeout=TIMEOUT,
    )
    status, _, page = log_in(Browser(stack.url()), "anna.rossi", PASSWORD)
    assert status == 403 and "revocato" in page and "/iam/registrazione" in page  # D-ACC-4
    assert log_in(Browser(stack.url()), "carla.gialli", PASSWORD)[0] == 200
    assert log_in(Browser(stack.url()), "mario.mi", PASSWORD)[0] == 200  # MI: never in a round
    for name in unused:  # each notice once
        assert len(mails_to(stack, name, ANNOUNCED)) == 1
        assert len(mails_to(stack, name, REVOKED)) == (0 if name == "carla.gialli" else 1)
    assert not mails_to(stack, "mario.mi", "revocat") and not mails_to(stack, "used.lately", "revocat")


def test_d_rev_4_kill_9_of_the_worker_while_announcing_and_while_executing_resumes_exactly_once(
    stack_factory: StackFactory, tmp_path: Path
) -> None:
    clock_file = tmp_path / "clock"
    # One account a batch, a pause after each: each phase takes seconds, so the kill lands in the middle.
    env = iam_env(
        clock_file,
        IAM_REVOCATION_BATCH_SIZE="1",
        IAM_REVOCATION_NOTICES_PER_SECOND="2",
        IAM_REVOCATION_BATCH_PAUSE_SECONDS="0.5",
    )
    stack = stack_factory(process_env=env, services=("iam", "notifier"), gateway=False)
    users = [f"utente.{n}" for n in range(8)]
    for name in users:
        add_account(stack, name)
    round_id = round_of(stack, users)

    wait_until(lambda: ops(stack, "GET", f"/{round_id}")["counts"]["announced"] >= 2, timeout=TIMEOUT)
    stack.kill("iam-worker")
    at_kill = ops(stack, "GET", f"/{round_id}")["counts"]["announced"]
    assert 2 <= at_kill < len(users)  # really stopped in the middle of the announcement
    stack.start_process("iam-worker")
    wait_until(lambda: all(mails_to(stack, u, ANNOUNCED) for u in users), timeout=TIMEOUT)

    set_clock(clock_file, 41)  # the deadline passes
    wait_until(lambda: ops(stack, "GET", f"/{round_id}")["counts"]["revoked"] >= 2, timeout=TIMEOUT)
    stack.kill("iam-worker")
    at_kill = ops(stack, "GET", f"/{round_id}")
    assert at_kill["state"] == "executing" and 2 <= at_kill["counts"]["revoked"] < len(users)
    stack.start_process("iam-worker")
    done = wait_until(
        lambda: (r := ops(stack, "GET", f"/{round_id}"))["state"] == "done" and r, timeout=TIMEOUT
    )
    wait_until(lambda: all(mails_to(stack, u, REVOKED) for u in users), timeout=TIMEOUT)

    assert done["counts"]["announced"] == len(users) and done["counts"]["revoked"] == len(users)
    assert [n["sent"] for n in done["notices"] if n["name"] == "announcement"] == [len(users)]
    assert {u: len(mails_to(stack, u, ANNOUNCED)) for u in users} == dict.fromkeys(users, 1)
    assert {u: len(mails_to(stack, u, REVOKED)) for u in users} == dict.fromkeys(users, 1)
    trail = ops(stack, "GET", f"/{round_id}/audit?limit=100")["entries"]
    assert sorted(e["account_id"] for e in trail if e["action"] == "account.revoked") == sorted(
        {e["account_id"] for e in trail if e["action"] == "account.revoked"}
    )
    assert len([e for e in trail if e["action"] == "account.revoked"]) == len(users)


def test_d_rev_4_a_broker_restart_while_announcing_delays_the_notices_and_sends_each_once(
    stack_factory: StackFactory, tmp_path: Path
) -> None:
    clock_file = tmp_path / "clock"
    env = iam_env(clock_file, IAM_REVOCATION_BATCH_SIZE="1", IAM_REVOCATION_BATCH_PAUSE_SECONDS="0.3")
    stack = stack_factory(process_env=env, services=("iam", "notifier"), gateway=False)
    users = [f"utente.{n}" for n in range(6)]
    for name in users:
        add_account(stack, name)
    try:
        stack.rabbitmq.stop()
        round_id = round_of(stack, users)
        # The worker keeps writing the notices into IAM's outbox; nothing reaches the notifier meanwhile.
        wait_until(lambda: ops(stack, "GET", f"/{round_id}")["counts"]["announced"] >= 3, timeout=TIMEOUT)
        assert not [m for u in users for m in mails_to(stack, u, ANNOUNCED)]
    finally:
        if not stack.rabbitmq.running:
            stack.rabbitmq.start().wait_ready()

    wait_until(lambda: all(mails_to(stack, u, ANNOUNCED) for u in users), timeout=TIMEOUT)
    body = ops(stack, "GET", f"/{round_id}")
    assert body["counts"]["announced"] == len(users)
    assert {u: len(mails_to(stack, u, ANNOUNCED)) for u in users} == dict.fromkeys(users, 1)
