"""Personal code use cases: the check other services ask for (D-ENA-9), change (D-ENA-4, D-ENA-6) and
recovery (D-ENA-5). Every function owns its transaction; wrong codes are counted wherever they are typed.

Throttling (D-ENA-9): after CODE_DELAY_AFTER consecutive wrong codes each further try must wait a delay that
doubles (CODE_DELAY_STEP_SECONDS, 2x, 4x ...); at CODE_LOCK_THRESHOLD the code locks for CODE_LOCK_SECONDS.
A try during a delay or a lock is not verified and not counted. Each wrong code and each lock is audited.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from polis.db import Database
from polis.errors import ApiError, TooManyRequests, ValidationFailed
from polis.events import Event
from polis.events import outbox as events_outbox
from polis.events.sealing import Sealer
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from enablement.audit import service as audit
from enablement.audit.service import Origin
from enablement.models import outbox
from enablement.personal_codes import hashing
from enablement.personal_codes import policy as code_policy
from enablement.personal_codes.iam import IamQuestions
from enablement.personal_codes.models import ACTIVE, MUST_CHANGE, PersonalCode

OK, WRONG, LOCKED, NOT_ENABLED, MUST_CHANGE_STATUS = "ok", "wrong", "locked", "not_enabled", "must_change"


@dataclass(frozen=True)
class CodePolicy:
    hasher: PasswordHasher
    sealer: Sealer
    min_length: int = 8
    delay_after: int = 2
    delay_step: float = 2.0
    lock_threshold: int = 6
    lock_seconds: float = 900.0
    recovery_lock_threshold: int = 3
    recovery_lock_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> CodePolicy:
        return cls(
            hasher=hashing.hasher_from_settings(settings),
            sealer=Sealer(settings["NOTIFIER_SEALING_PUBLIC_KEY"], settings["NOTIFIER_SEALING_KEY_ID"]),
            min_length=settings["CODE_MIN_LENGTH"],
            delay_after=settings["CODE_DELAY_AFTER"],
            delay_step=settings["CODE_DELAY_STEP_SECONDS"],
            lock_threshold=settings["CODE_LOCK_THRESHOLD"],
            lock_seconds=settings["CODE_LOCK_SECONDS"],
            recovery_lock_threshold=settings["RECOVERY_LOCK_THRESHOLD"],
            recovery_lock_seconds=settings["RECOVERY_LOCK_SECONDS"],
        )


@dataclass(frozen=True)
class CheckResult:
    status: str
    retry_after: int = 0

    @property
    def valid(self) -> bool:
        return self.status == OK

    def to_reply(self) -> dict[str, Any]:
        reply: dict[str, Any] = {"valid": self.valid, "status": self.status}
        if self.status == LOCKED:
            reply["retry_after"] = self.retry_after
        return reply


class WrongPersonalCode(ApiError):
    status = 400
    code = "wrong_personal_code"
    message = "The personal code is not correct."


class PersonalCodeLocked(TooManyRequests):
    code = "personal_code_locked"
    message = "Too many wrong personal codes: try again later."


class NotEnabled(ApiError):
    status = 409
    code = "not_enabled"
    message = "This account has no active enablement."


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite gives naive datetimes back; every stored time is UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _wait_left(row: PersonalCode, policy: CodePolicy, now: datetime) -> float:
    locked_until = _aware(row.locked_until)
    if locked_until is not None and locked_until > now:
        return (locked_until - now).total_seconds()
    last = _aware(row.last_failure_at)
    if row.failures >= policy.delay_after and last is not None:
        delay = policy.delay_step * 2 ** (row.failures - policy.delay_after)
        ready = last + timedelta(seconds=delay)
        if ready > now:
            return (ready - now).total_seconds()
    return 0.0


@dataclass(frozen=True)
class Verified:
    """An attempt's argon2 verdict on one stored hash."""

    code_hash: str
    matches: bool


def _verdict(policy: CodePolicy, code_hash: str, code: str, known: Verified | None) -> bool:
    if known is not None and known.code_hash == code_hash:
        return known.matches
    return hashing.verify(policy.hasher, code_hash, code)


def _load(session: Session, account_id: uuid.UUID) -> PersonalCode | None:
    return session.get(PersonalCode, account_id, with_for_update=True)


def check_in_session(
    session: Session,
    *,
    policy: CodePolicy,
    account_id: uuid.UUID,
    code: str,
    caller: str,
    origin: Origin | None = None,
    now: datetime | None = None,
    known: Verified | None = None,
) -> CheckResult:
    """Check a typed personal code with the throttling of D-ENA-9, in the caller's transaction.

    `known` is this attempt's own argon2 verdict against a hash read just before (check's unlocked read):
    used when the locked row still has that hash, so the attempt costs one argon2 either way."""
    now = now or datetime.now(UTC)
    row = _load(session, account_id)
    if row is None or row.state not in (ACTIVE, MUST_CHANGE):
        if known is None:
            hashing.verify(policy.hasher, hashing.dummy_hash(policy.hasher), code)  # the same time either way
        return CheckResult(NOT_ENABLED)
    wait = _wait_left(row, policy, now)
    if wait > 0:
        return CheckResult(LOCKED, retry_after=max(1, math.ceil(wait)))
    return _settle(
        session,
        row,
        policy=policy,
        verified=_verdict(policy, row.code_hash, code, known),
        code=code,
        caller=caller,
        origin=origin,
        now=now,
    )


def _settle(
    session: Session,
    row: PersonalCode,
    *,
    policy: CodePolicy,
    verified: bool,
    code: str,
    caller: str,
    origin: Origin | None,
    now: datetime,
) -> CheckResult:
    """The bookkeeping of one verified try on a locked row: count a wrong code (and lock), or clear the
    counters and redo an outdated hash on a right one."""
    account_id = row.account_id
    if not verified:
        row.failures += 1
        row.last_failure_at = now
        audit.record(
            session,
            action="personal_code.wrong",
            actor=caller,
            account_id=account_id,
            origin=origin,
            details={"failures": row.failures},
        )
        if row.failures >= policy.lock_threshold:
            row.locked_until = now + timedelta(seconds=policy.lock_seconds)
            row.failures = 0
            audit.record(
                session,
                action="personal_code.locked",
                actor=caller,
                account_id=account_id,
                origin=origin,
                details={"seconds": policy.lock_seconds},
            )
            return CheckResult(LOCKED, retry_after=math.ceil(policy.lock_seconds))
        return CheckResult(WRONG)
    if row.failures or row.last_failure_at is not None or row.locked_until is not None:
        # Only when there is something to clear: an untouched row costs the unit of work nothing.
        row.failures, row.last_failure_at, row.locked_until = 0, None, None
    if policy.hasher.check_needs_rehash(row.code_hash):
        # The parameters changed: redone while the code is at hand.
        row.code_hash = hashing.make(policy.hasher, code)
    return CheckResult(MUST_CHANGE_STATUS if row.state == MUST_CHANGE else OK)


_ROW_SQL = (
    "SELECT code_hash, state, failures, last_failure_at, locked_until"
    " FROM personal_codes WHERE account_id = %s"
)


def check(*, db: Database, policy: CodePolicy, account_id: uuid.UUID, code: str, caller: str) -> CheckResult:
    """The RPC question "is this the personal code of account X?" (enablement.check_personal_code).

    On PostgreSQL the usual case, the right code on a row with nothing to count or clear and no rehash due,
    takes no lock and writes nothing: an autocommit read, argon2, and the same read again after it (P7 of
    `make bench`: the locked transaction's BEGIN, SELECT ... FOR UPDATE and COMMIT were a third of the
    responder's CPU beyond argon2, the tuple lock and its commit most of PostgreSQL's). The answer counts
    only when the second read finds the row as the first did, so it is decided at a moment when no wrong
    code had been counted since the read and no delay or lock was due: it is the answer the locked path
    would give at that moment. A wrong code (or anything else) goes through the locked path, where the
    throttling is decided again on the locked row, the count is exact under concurrency, and a try that
    meets a delay or a lock there is answered "locked" whatever its argon2 said (D-ENA-9). An attempt that
    overlaps wrong ones on the same account is thus ordered by when its argon2 ended, not by when it
    started: no more tries are answered in a window than the locked path allows."""
    now = datetime.now(UTC)
    known: Verified | None = None
    if db.engine.dialect.driver == "psycopg":
        quick = _check_unlocked(db, policy=policy, account_id=account_id, code=code)
        if isinstance(quick, CheckResult):
            return quick
        known = quick
    return _check_locked(
        db, policy=policy, account_id=account_id, code=code, caller=caller, now=now, known=known
    )


def _clean(row: Any) -> bool:
    return (
        row is not None
        and row.state in (ACTIVE, MUST_CHANGE)
        and not row.failures
        and row.last_failure_at is None
        and row.locked_until is None
    )


def _check_unlocked(
    db: Database, *, policy: CodePolicy, account_id: uuid.UUID, code: str
) -> CheckResult | Verified | None:
    """The usual case on the driver's connection in autocommit (psycopg): the answer, or the verdict for
    the locked path (None when it must verify itself: no row, or a row with something to count or clear)."""
    from psycopg.rows import namedtuple_row

    raw = db.engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        driver.autocommit = True  # one statement, no BEGIN or COMMIT round trips
        try:
            with driver.cursor(row_factory=namedtuple_row) as cursor:
                row = cursor.execute(_ROW_SQL, (account_id,), prepare=True).fetchone()
                if row is None or not _clean(row):
                    return None
                verdict = Verified(row.code_hash, hashing.verify(policy.hasher, row.code_hash, code))
                if not verdict.matches or policy.hasher.check_needs_rehash(row.code_hash):
                    return verdict
                if cursor.execute(_ROW_SQL, (account_id,), prepare=True).fetchone() != row:
                    return verdict  # something changed while argon2 ran: decided on the locked row
                return CheckResult(MUST_CHANGE_STATUS if row.state == MUST_CHANGE else OK)
        finally:
            driver.autocommit = False
    except BaseException:
        raw.invalidate()  # a connection in an unknown state never goes back to the pool
        raise
    finally:
        raw.close()


_LOCKED_ROW = (
    select(
        PersonalCode.code_hash,
        PersonalCode.state,
        PersonalCode.failures,
        PersonalCode.last_failure_at,
        PersonalCode.locked_until,
    )
    .where(PersonalCode.account_id == bindparam("account_id"))
    .with_for_update()
)


def _check_locked(
    db: Database,
    *,
    policy: CodePolicy,
    account_id: uuid.UUID,
    code: str,
    caller: str,
    now: datetime,
    known: Verified | None,
) -> CheckResult:
    """The check on the locked row: a locked Core read and the commit when there is nothing to write;
    anything else through check_in_session's bookkeeping in the same transaction, on the row it holds."""
    with db.engine.begin() as connection:
        row = connection.execute(_LOCKED_ROW, {"account_id": account_id}).one_or_none()
        if row is None or not _clean(row):  # not enabled, throttled, or counters to clear: the full path
            with Session(bind=connection) as session:
                result = check_in_session(
                    session,
                    policy=policy,
                    account_id=account_id,
                    code=code,
                    caller=caller,
                    now=now,
                    known=known,
                )
                session.flush()
            return result
        verified = _verdict(policy, row.code_hash, code, known)
        if verified and not policy.hasher.check_needs_rehash(row.code_hash):
            return CheckResult(MUST_CHANGE_STATUS if row.state == MUST_CHANGE else OK)
        with Session(bind=connection) as session:
            # The row this transaction locked above: it cannot have gone since.
            record = session.get_one(PersonalCode, account_id)
            result = _settle(
                session,
                record,
                policy=policy,
                verified=verified,
                code=code,
                caller=caller,
                origin=None,
                now=now,
            )
            session.flush()
        return result


def _raise_for(result: CheckResult) -> None:
    if result.status == LOCKED:
        raise PersonalCodeLocked(fields={"retry_after": result.retry_after})
    if result.status == WRONG:
        raise WrongPersonalCode(fields={"current_code": ["wrong_personal_code"]})
    if result.status == NOT_ENABLED:
        raise NotEnabled()


def change(
    *,
    db: Database,
    policy: CodePolicy,
    iam: IamQuestions,
    account_id: uuid.UUID,
    current_code: str,
    new_code: str,
    origin: Origin,
) -> None:
    """D-ENA-6 (and the mandatory first change of D-ENA-4): the current code, then a new one of the policy.

    The new code is checked against the policy and the password (IAM, over RPC) before anything is
    written; a wrong current code is counted and committed, and nothing else changes."""
    problems = code_policy.problems(new_code, min_length=policy.min_length)
    if problems:
        raise ValidationFailed(fields={"new_code": problems})
    if new_code == current_code:
        raise ValidationFailed(fields={"new_code": ["code_same_as_current"]})
    with db.transaction() as session:
        result = check_in_session(
            session, policy=policy, account_id=account_id, code=current_code, caller="user", origin=origin
        )
    _raise_for(result)
    # Asked outside any transaction: no row stays locked while IAM answers.
    if iam.password_matches(account_id=account_id, password=new_code):
        raise ValidationFailed(fields={"new_code": ["code_is_password"]})
    now = datetime.now(UTC)
    with db.transaction() as session:
        row = _load(session, account_id)
        if row is None or row.state not in (ACTIVE, MUST_CHANGE):
            raise NotEnabled()
        if hashing.verify(policy.hasher, row.temporary_hash, new_code):
            raise ValidationFailed(fields={"new_code": ["code_is_temporary"]})
        row.code_hash = hashing.make(policy.hasher, new_code)
        row.state = ACTIVE
        row.changed_at = now
        audit.record(
            session, action="personal_code.changed", actor="user", account_id=account_id, origin=origin
        )
        events_outbox.record(
            session,
            Event.new(
                "enablement.personal_code_changed",
                {"account_id": str(account_id), "changed_at": now.isoformat()},
                producer="enablement",
            ),
            outbox,
        )


class RecoveryRefused(ApiError):
    status = 400
    code = "recovery_refused"
    message = "The codice fiscale or the answer to the security question is not correct."


class RecoveryLocked(TooManyRequests):
    code = "recovery_locked"
    message = "Too many wrong answers: personal code recovery is locked for a while."


def recover(
    *,
    db: Database,
    policy: CodePolicy,
    iam: IamQuestions,
    account_id: uuid.UUID,
    codice_fiscale: str,
    answer: str,
    confirmed_codice_fiscale: str | None,
    origin: Origin,
) -> None:
    """D-ENA-5: codice fiscale and the security answer (case-sensitive, IAM says yes or no); a new code is
    issued and sent, sealed, to the reference address only. Wrong tries lock recovery (audited)."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        row = _load(session, account_id)
        if row is None or row.state not in (ACTIVE, MUST_CHANGE):
            raise NotEnabled()
        locked_until = _aware(row.recovery_locked_until)
        if locked_until is not None and locked_until > now:
            raise RecoveryLocked(fields={"retry_after": math.ceil((locked_until - now).total_seconds())})
    cf_matches = (
        confirmed_codice_fiscale is not None and codice_fiscale.strip().upper() == confirmed_codice_fiscale
    )
    answer_matches = iam.security_answer_matches(account_id=account_id, answer=answer)
    code = code_policy.generate_temporary()
    code_hash = hashing.make(policy.hasher, code)
    with db.transaction() as session:
        row = _load(session, account_id)
        if row is None or row.state not in (ACTIVE, MUST_CHANGE):
            raise NotEnabled()
        if not (cf_matches and answer_matches):
            row.recovery_failures += 1
            details: dict[str, Any] = {"failures": row.recovery_failures}
            locked = row.recovery_failures >= policy.recovery_lock_threshold
            if locked:
                row.recovery_locked_until = now + timedelta(seconds=policy.recovery_lock_seconds)
                row.recovery_failures = 0
            audit.record(
                session,
                action="personal_code.recovery_locked" if locked else "personal_code.recovery_refused",
                actor="user",
                account_id=account_id,
                origin=origin,
                details=details,
            )
        else:
            row.code_hash, row.temporary_hash, row.state, row.changed_at = code_hash, code_hash, ACTIVE, now
            row.recovery_failures, row.failures, row.locked_until = 0, 0, None
            audit.record(
                session, action="personal_code.recovered", actor="user", account_id=account_id, origin=origin
            )
            events_outbox.record(
                session,
                Event.new(
                    "enablement.personal_code_recovered",
                    {
                        "account_id": str(account_id),
                        "personal_code": policy.sealer.seal(code),
                        "recovered_at": now.isoformat(),
                    },
                    producer="enablement",
                ),
                outbox,
            )
            return
    raise RecoveryRefused(fields={"security_answer": ["recovery_refused"]})


def status_of(session: Session, account_id: uuid.UUID) -> str | None:
    row = session.get(PersonalCode, account_id)
    return row.state if row is not None else None
