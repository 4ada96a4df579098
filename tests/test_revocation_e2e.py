"""Revocation rounds with real processes (issue 16): IAM's web and worker, RabbitMQ, the notifier and the SMTP
sink, the gateway and the login page. The deadline passes by the test clock file that IAM's processes read
(IAM_REVOCATION_CLOCK_FILE, POLIS_ENV=test only); enablement answers its personal-code checks over real RPC.
Rules: D-REV-2, D-REV-3, D-REV-4, D-ACC-4, D-ENA-9."""

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
from polis.events.sealing import DEV_KEY_ID, DEV_PUBLIC_KEY, Sealer
from polis.rpc import RpcClient
from polis.testing.helpers import wait_until
from support.browser import Browser
from support.stack import StackFactory, SystemStack
from test_enablement_e2e import create_account
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
    return create_account(
        stack,
        username,
        now=created_at,
        kind=kind,
        institutional_email=f"{username}@istruzione.it" if kind == "mi" else None,
        last_access_at=last_access_at,
    )


PERSONAL_CODE = "Girasole2042"
CHECK_CODE = "enablement.check_personal_code"


def enable(stack: SystemStack, account_id: uuid.UUID, username: str) -> None:
    """An enablement confirmed at an office, with the personal code PERSONAL_CODE, straight in enablement's
    database (what D-ENA-2/3/4 leave), once IAM's iam.account_registered has reached enablement's copy."""
    from enablement.accounts import service as enablement_accounts
    from enablement.personal_codes import hashing
    from enablement.personal_codes.models import ACTIVE, PersonalCode
    from enablement.requests.models import CONFIRMED, EnablementRequest

    database = Database(stack.database_url("enablement"))

    def known() -> bool:
        with database.transaction() as session:
            return enablement_accounts.get(session, account_id) is not None

    wait_until(known, timeout=TIMEOUT)
    now = datetime.now(UTC)
    with database.transaction() as session:
        session.add(
            EnablementRequest(
                number=f"ENA-{uuid.uuid4().hex[:4].upper()}-{uuid.uuid4().hex[:4].upper()}",
                account_id=account_id,
                codice_fiscale=uuid.uuid4().hex[:16].upper(),
                first_name="Lucia",
                last_name="Verdi",
                email=f"{username}@example.org",
                language="it",
                state=CONFIRMED,
                created_at=now,
                expires_at=now + timedelta(days=60),
                closed_at=now,
            )
        )
        session.add(
            PersonalCode(
                account_id=account_id,
                code_hash=hashing.hasher().hash(PERSONAL_CODE),
                temporary_hash=None,
                state=ACTIVE,
                failures=0,
                recovery_failures=0,
                changed_at=now,
            )
        )
    database.dispose()


def code_status(rpc: RpcClient, account_id: uuid.UUID) -> str:
    """What enablement answers a service checking the personal code (D-ENA-9), over real RPC."""
    reply = rpc.call(CHECK_CODE, {"account_id": str(account_id), "personal_code": PERSONAL_CODE})
    return str(reply["status"])


def account_state(stack: SystemStack, account_id: uuid.UUID) -> str:
    from iam.accounts.models import Account

    database = Database(stack.database_url("iam"))
    with database.transaction() as session:
        state = str(session.get(Account, account_id).state)  # type: ignore[union-attr]
    database.dispose()
    return state


def outbox_drained(stack: SystemStack) -> bool:
    """IAM's outbox has published everything (the notices cannot still be on their way out of IAM)."""
    from iam.revocation import service

    database = Database(stack.database_url("iam"))
    try:
        return service.outbox_backlog(db=database) == 0
    finally:
        database.dispose()


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
    return stack.smtp.emails_to(f"{username}@example.org", subject)


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
    ids = {name: add_account(stack, name) for name in unused}
    ids["mario.mi"] = add_account(stack, "mario.mi", kind="mi")
    ids["used.lately"] = add_account(stack, "used.lately", last_access_at=datetime.now(UTC))
    # Enabled: anna.rossi (to be revoked), carla.gialli (to be kept by a login) and the MI account.
    for name in ("anna.rossi", "carla.gialli", "mario.mi"):
        enable(stack, ids[name], name)
    # The stack runs enablement with POLIS_ENV=dev: it opens RPC fields with the development key pair.
    rpc = RpcClient(
        stack.broker_url, timeout=10.0, sealers={"enablement": Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID)}
    )
    assert {name: code_status(rpc, ids[name]) for name in ("anna.rossi", "carla.gialli", "mario.mi")} == {
        "anna.rossi": "ok",
        "carla.gialli": "ok",
        "mario.mi": "ok",
    }

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
    assert log_in(Browser(stack.url()), "used.lately", PASSWORD)[0] == 200
    assert {name: account_state(stack, i) for name, i in ids.items()} == {
        "anna.rossi": "revoked",
        "bruno.neri": "revoked",
        "carla.gialli": "active",
        "mario.mi": "active",
        "used.lately": "active",
    }
    # D-REV-3 end to end: enablement consumed iam.account_revoked and ended anna.rossi's enablement, so a
    # service checking her personal code is told she is not enabled; the kept and the MI account still are.
    wait_until(lambda: code_status(rpc, ids["anna.rossi"]) == "not_enabled", timeout=TIMEOUT)
    assert code_status(rpc, ids["carla.gialli"]) == "ok" and code_status(rpc, ids["mario.mi"]) == "ok"

    # Each notice once: counted after IAM's outbox has published everything and the notifier took it all.
    wait_until(lambda: outbox_drained(stack), timeout=TIMEOUT)
    wait_until(lambda: len(mails_to(stack, "bruno.neri", REVOKED)) >= 1, timeout=TIMEOUT)
    for name in unused:
        assert len(mails_to(stack, name, ANNOUNCED)) == 1
        assert len(mails_to(stack, name, REVOKED)) == (0 if name == "carla.gialli" else 1)
    assert not mails_to(stack, "mario.mi", "revocat") and not mails_to(stack, "used.lately", "revocat")
    rpc.close()


def test_d_rev_4_a_round_cancelled_before_the_deadline_revokes_nobody(
    stack_factory: StackFactory, tmp_path: Path
) -> None:
    """Cancelled after its announcement: the deadline passes and the worker, shown at work by a second round
    executed after it, revokes none of the first round's accounts and sends them nothing more."""
    clock_file = tmp_path / "clock"
    stack = stack_factory(process_env=iam_env(clock_file), services=("iam", "notifier"), gateway=False)
    users = ["elena.conti", "fabio.greco", "gina.marino"]
    ids = {name: add_account(stack, name) for name in users}
    # Unused since 2012: affected by the second round's earlier cut-off too.
    old = datetime(2012, 1, 1, tzinfo=UTC)
    older = add_account(stack, "ugo.antico", created_at=old, last_access_at=old)

    first = round_of(stack, [*users, "ugo.antico"])
    wait_until(lambda: all(mails_to(stack, u, ANNOUNCED) for u in [*users, "ugo.antico"]), timeout=TIMEOUT)
    cancelled = ops(stack, "POST", f"/{first}/cancel")
    assert cancelled["state"] == "cancelled"

    set_clock(clock_file, 41)  # the first round's deadline passes
    second = ops(stack, "POST", "", {"cutoff": "2013-01-01", "deadline": deadline_in(42)})["id"]
    assert ops(stack, "POST", f"/{second}/preview")["affected"] == 1  # ugo.antico only
    ops(stack, "POST", f"/{second}/announce")
    wait_until(lambda: mails_to(stack, "ugo.antico", ANNOUNCED)[1:], timeout=TIMEOUT)
    set_clock(clock_file, 43)  # the second round's deadline passes: the worker executes it
    wait_until(lambda: ops(stack, "GET", f"/{second}")["state"] == "done", timeout=TIMEOUT)
    wait_until(lambda: mails_to(stack, "ugo.antico", REVOKED), timeout=TIMEOUT)
    wait_until(lambda: outbox_drained(stack), timeout=TIMEOUT)

    body = ops(stack, "GET", f"/{first}")
    assert body["state"] == "cancelled" and body["counts"]["revoked"] == 0
    assert body["cancelled_at"] is not None and body["execution_started_at"] is None
    assert {n["state"] for n in body["notices"] if n["name"] != "announcement"} == {"skipped"}
    assert {name: account_state(stack, i) for name, i in ids.items()} == dict.fromkeys(users, "active")
    assert account_state(stack, older) == "revoked"
    trail = ops(stack, "GET", f"/{first}/audit?limit=100")["entries"]
    assert [e for e in trail if e["action"] == "account.revoked"] == []
    for name in users:  # told once, never revoked nor reminded
        assert len(mails_to(stack, name, ANNOUNCED)) == 1 and not mails_to(stack, name, REVOKED)


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
