"""A kill -9 of IAM's worker in the middle of an execution on PostgreSQL, with real processes (issue 16,
D-REV-4): there the batches walk the accounts table in its physical order from a heap position, then sweep
what is left; the restarted worker resumes at the last committed position and every account is revoked and
told once (test_revocation_e2e.py runs the same faults on SQLite, which walks in id order). D-REV-4."""

from __future__ import annotations

from pathlib import Path

import pytest
from polis.testing.helpers import wait_until
from support.stack import StackFactory
from test_revocation_e2e import (
    ANNOUNCED,
    REVOKED,
    TIMEOUT,
    add_account,
    iam_env,
    mails_to,
    ops,
    round_of,
    set_clock,
)

pytestmark = pytest.mark.slow


def test_d_rev_4_kill_9_of_the_worker_mid_walk_on_postgresql_resumes_revoking_and_telling_each_once(
    stack_factory: StackFactory, tmp_path: Path
) -> None:
    clock_file = tmp_path / "clock"
    # One account a batch, a pause after each: the execution takes seconds, so the kill lands in the middle.
    env = iam_env(clock_file, IAM_REVOCATION_BATCH_SIZE="1", IAM_REVOCATION_BATCH_PAUSE_SECONDS="0.5")
    stack = stack_factory(
        databases="postgresql", process_env=env, services=("iam", "notifier"), gateway=False
    )
    users = [f"utente.{n}" for n in range(8)]
    for name in users:
        add_account(stack, name)
    round_id = round_of(stack, users)
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
    assert {u: len(mails_to(stack, u, ANNOUNCED)) for u in users} == dict.fromkeys(users, 1)
    assert {u: len(mails_to(stack, u, REVOKED)) for u in users} == dict.fromkeys(users, 1)
    trail = ops(stack, "GET", f"/{round_id}/audit?limit=100")["entries"]
    revoked = [e["account_id"] for e in trail if e["action"] == "account.revoked"]
    assert len(revoked) == len(set(revoked)) == len(users)
