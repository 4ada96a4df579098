"""D-ENA-9 under concurrency: the RPC check (enablement.check_personal_code) counts wrong codes exactly when
tries on one account overlap, a right code is answered only when the locked path would answer it at that
moment, and the usual case (right code, nothing to count or clear) takes no lock and writes nothing."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from enablement.audit.models import AuditEntry
from enablement.extensions import db
from enablement.personal_codes import hashing
from enablement.personal_codes import service as codes
from enablement.personal_codes.models import ACTIVE, PersonalCode
from enablement.personal_codes.service import CodePolicy
from sqlalchemy import func, select, text

RIGHT, WRONG = "Girasole42", "Sbagliato99"


def _policy(app: Any) -> CodePolicy:
    # Two wrong codes, then a delay far longer than the test: every later try is "locked" unverified.
    settings = {**app.config, "CODE_DELAY_STEP_SECONDS": 600.0, "CODE_LOCK_THRESHOLD": 10}
    return CodePolicy.from_settings(settings)


def _account(policy: CodePolicy) -> uuid.UUID:
    account = uuid.uuid4()
    with db.transaction() as session:
        session.add(
            PersonalCode(
                account_id=account,
                code_hash=policy.hasher.hash(RIGHT),
                state=ACTIVE,
                failures=0,
                recovery_failures=0,
                changed_at=datetime.now(UTC),
            )
        )
    return account


def _check(policy: CodePolicy, account: uuid.UUID, code: str) -> codes.CheckResult:
    return codes.check(db=db, policy=policy, account_id=account, code=code, caller="rpc")


def _wrong_audits(account: uuid.UUID) -> int:
    with db.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.account_id == account, AuditEntry.action == "personal_code.wrong")
            )
            or 0
        )


def _failures(account: uuid.UUID) -> int:
    with db.transaction() as session:
        row = session.get(PersonalCode, account)
        assert row is not None
        return row.failures


def _postgresql_only(database_kind: str) -> None:
    if database_kind != "postgresql":
        pytest.skip("the unlocked read of the usual case is PostgreSQL's; SQLite takes the locked path")


def test_parallel_wrong_codes_are_counted_exactly(app: Any) -> None:
    """D-ENA-9: eight wrong codes at once on one account: two answered "wrong" and counted (and audited),
    the six others meet the delay and are answered "locked", not counted."""
    policy = _policy(app)
    account = _account(policy)
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda _: _check(policy, account, WRONG).status, range(8)))
    assert statuses == ["locked"] * 6 + ["wrong"] * 2
    assert _failures(account) == 2
    assert _wrong_audits(account) == 2


def _overlapped_by(
    monkeypatch: pytest.MonkeyPatch, policy: CodePolicy, account: uuid.UUID, wrong: int
) -> None:
    """While the right code's argon2 runs, `wrong` wrong codes for the same account are checked to the end
    on another thread."""
    verify = hashing.verify
    done = threading.Event()

    def overlapping(ph: Any, stored_hash: str | None, code: str) -> bool:
        verdict = verify(ph, stored_hash, code)
        if code == RIGHT and not done.is_set():
            done.set()
            other = threading.Thread(target=lambda: [_check(policy, account, WRONG) for _ in range(wrong)])
            other.start()
            other.join(30)
            assert not other.is_alive(), "a wrong code waited for the right one: the usual case holds a lock"
        return verdict

    monkeypatch.setattr(hashing, "verify", overlapping)


def test_a_right_code_overlapped_by_counted_wrong_ones_is_decided_on_the_locked_row(
    app: Any, database_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D-ENA-9: a right code read on a clean row, whose argon2 overlapped two wrong codes counted meanwhile,
    is answered "locked" (the delay is due when it is decided), and counts nothing."""
    _postgresql_only(database_kind)
    policy = _policy(app)
    account = _account(policy)
    _overlapped_by(monkeypatch, policy, account, wrong=2)
    result = _check(policy, account, RIGHT)
    assert result.status == "locked" and result.retry_after > 0
    assert _failures(account) == 2 and _wrong_audits(account) == 2


def test_a_right_code_overlapped_by_one_wrong_one_clears_its_count(
    app: Any, database_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D-ENA-9: one wrong code counted while the right one's argon2 ran: no delay due yet, so the right code
    is answered "ok" on the locked row, and it clears the counter as a right code does."""
    _postgresql_only(database_kind)
    policy = _policy(app)
    account = _account(policy)
    _overlapped_by(monkeypatch, policy, account, wrong=1)
    assert _check(policy, account, RIGHT).status == "ok"
    assert _failures(account) == 0 and _wrong_audits(account) == 1


def test_the_usual_case_takes_no_lock_and_writes_nothing(app: Any, database_kind: str) -> None:
    """D-ENA-9, P7: a right code on a row with nothing to count leaves the row as it was (no tuple lock:
    xmax stays 0), in parallel too."""
    _postgresql_only(database_kind)
    policy = _policy(app)
    account = _account(policy)
    with ThreadPoolExecutor(4) as pool:
        assert {r.status for r in pool.map(lambda _: _check(policy, account, RIGHT), range(8))} == {"ok"}
    with db.engine.connect() as connection:
        xmax = connection.execute(
            text("SELECT xmax::text FROM personal_codes WHERE account_id = :a"), {"a": account}
        ).scalar_one()
    assert xmax == "0"
    assert _failures(account) == 0 and _wrong_audits(account) == 0
