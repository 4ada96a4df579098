"""Login with username and password (D-ACC-4); the forced change after a temporary password (D-ACC-6) is
forced_change.py.

Every path costs exactly one argon2 verification: an unknown username is checked against a dummy hash, a
locked name too, so the response time does not tell whether an account exists; a pending temporary password
is compared by its digest (at most one is live per account), so the time does not tell whether a recovery
matched either (issue 11 item 2). At the ceiling of consecutive failures the account's owner gets an
unlock link by email (unlock.py, issue 11 item 5); the page answers the same for a name of nobody.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from polis.db import Database
from sqlalchemy import Table, and_, bindparam, exists, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from iam.accounts import links
from iam.accounts import temporary_passwords as temporary
from iam.accounts.models import Account, AccountState, TemporaryPassword
from iam.audit import service as audit
from iam.audit.models import AuditEntry
from iam.audit.service import Origin
from iam.oidc.statements import ACCOUNT_COLUMNS
from iam.passwords import hashing
from iam.revocation import clock as revocation_clock
from iam.revocation import service as revocation
from iam.revocation.models import RevocationRound, RoundState
from iam.signin import bruteforce
from iam.signin import unlock as unlock_links
from iam.signin.bruteforce import LockPolicy
from iam.signin.models import LoginThrottle, SsoSession
from iam.signin.sessions import SignedIn, SsoPolicy, new_session, start_session

MAX_USERNAME = 64
MAX_PASSWORD = 1024
MIN_PASSWORD_FALLBACK = 15  # NIST SP 800-63B Rev 4, single factor; used until the policy module exists


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    MUST_CHANGE_PASSWORD = "must_change_password"  # noqa: S105 - an outcome, not a secret
    INVALID = "invalid"
    LOCKED = "locked"
    DISABLED = "disabled"
    REVOKED = "revoked"


@dataclass(frozen=True)
class LoginPolicy:
    hasher: PasswordHasher
    dummy_hash: str
    lock: LockPolicy
    sso: SsoPolicy
    unlock: unlock_links.UnlockPolicy

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> LoginPolicy:
        memory, time_cost = settings["ARGON2_MEMORY_KIB"], settings["ARGON2_TIME_COST"]
        return cls(
            hasher=hashing.hasher(memory, time_cost),
            dummy_hash=hashing.dummy_hash(memory, time_cost),
            lock=LockPolicy.from_settings(settings),
            sso=SsoPolicy.from_settings(settings),
            unlock=unlock_links.UnlockPolicy.from_settings(settings),
        )


@dataclass(frozen=True)
class LoginResult:
    outcome: Outcome
    account_id: uuid.UUID | None = None
    sso_token: str | None = None
    sso_session_id: uuid.UUID | None = None
    locked_until: datetime | None = None
    language: str | None = None  # the account's, read with it: the pages follow it from the login on
    # The new session and the account's claims as they were written (a copy): what an authorization
    # request that the login continues needs, without reading them back (issue 18).
    signed_in: SignedIn | None = None


def normalise_username(username: str) -> str:
    return username.strip().lower()


def username_key(username: str) -> str:
    return hashlib.sha256(normalise_username(username).encode()).hexdigest()


@dataclass(frozen=True)
class _Seen:
    """What the read step found: a copy, so that the argon2 work happens outside every transaction."""

    account_id: uuid.UUID
    password_hash: str | None
    state: str
    failed_logins: int
    locked_until: datetime | None
    temporary_id: uuid.UUID | None
    temporary_digest: str | None
    language: str | None = None


def authenticate(
    *, db: Database, policy: LoginPolicy, username: str, password: str, origin: Origin
) -> LoginResult:
    """Check username and password and, when they match a usable account, open its SSO session.

    Three steps: read the account (short transaction), verify argon2 (no transaction, no lock), write the
    outcome (short transaction that re-checks what it relies on).
    """
    name = normalise_username(username)
    seen = _read(db, name)
    now = datetime.now(UTC)
    if seen is None:
        hashing.verify_secret(policy.dummy_hash, password, ph=policy.hasher)
        return _unknown_username(db, policy=policy, name=name, origin=origin, now=now)
    if bruteforce.locked_until(seen, now) is not None:
        hashing.verify_secret(policy.dummy_hash, password, ph=policy.hasher)  # same cost as a try
        correct, temporary_id = False, None
    else:
        correct = hashing.verify_secret(seen.password_hash, password, ph=policy.hasher)
        # The live temporary password by its digest: no second argon2 run whatever is pending.
        offered = temporary.digest(password)
        matches_temporary = seen.temporary_digest is not None and hmac.compare_digest(
            seen.temporary_digest, offered
        )
        temporary_id = (
            seen.temporary_id if not correct and matches_temporary and seen.state in USABLE_STATES else None
        )
    new_hash = None
    if correct and seen.password_hash and hashing.needs_rehash(seen.password_hash, ph=policy.hasher):
        new_hash = hashing.hash_secret(password, ph=policy.hasher)
    if correct and temporary_id is None:
        signed_in = _sign_in(db, policy=policy, seen=seen, new_hash=new_hash, origin=origin)
        if signed_in is not None:
            return signed_in
    return _record(
        db,
        policy=policy,
        seen=seen,
        correct=correct,
        temporary_id=temporary_id,
        new_hash=new_hash,
        origin=origin,
    )


USABLE_STATES = (AccountState.ACTIVE.value, AccountState.MUST_CHANGE_PASSWORD.value)


_ACCOUNTS: Table = Account.__table__  # type: ignore[assignment]
_ROUNDS: Table = RevocationRound.__table__  # type: ignore[assignment]

# One statement, built once: the columns the login needs and the live temporary password (usually none;
# at most one, since a new one ends the earlier ones: the newest counts should two ever be live).
_READ = (
    select(
        Account.id,
        Account.password_hash,
        Account.state,
        Account.failed_logins,
        Account.locked_until,
        Account.language,
        TemporaryPassword.id.label("temporary_id"),
        TemporaryPassword.password_hash.label("temporary_hash"),
    )
    .outerjoin(
        TemporaryPassword,
        and_(*links.live(TemporaryPassword, bindparam("now"), account_id=Account.id)),  # type: ignore[arg-type]
    )
    .where(Account.username == bindparam("name"))
    .order_by(TemporaryPassword.created_at.desc())
)

# The usual login in one statement: the right password of a usable account that is not locked. The WHERE
# re-checks what the read saw (the hash the password matched, no lock since) and that no announced
# revocation round is running (the login would have to leave it: that is _record's work, with the row
# lock); no row back means something changed, and _record decides as it always did.
_SIGN_IN = (
    update(_ACCOUNTS)
    .where(
        _ACCOUNTS.c.id == bindparam("account_id"),
        _ACCOUNTS.c.password_hash == bindparam("seen_hash"),
        _ACCOUNTS.c.state.in_(USABLE_STATES),
        or_(_ACCOUNTS.c.locked_until.is_(None), _ACCOUNTS.c.locked_until <= bindparam("now")),
        ~exists().where(
            _ROUNDS.c.state == RoundState.ANNOUNCED.value, _ROUNDS.c.deadline > bindparam("round_now")
        ),
    )
    .values(
        failed_logins=0,  # bruteforce.reset
        last_failed_login_at=None,
        locked_until=None,
        last_access_at=bindparam("now"),  # D-REV-2: logging in keeps the account
        password_hash=bindparam("new_hash"),
    )
    .returning(*(_ACCOUNTS.c[column.name] for column in ACCOUNT_COLUMNS))  # the claims, for the code
)


def _read(db: Database, name: str) -> _Seen | None:
    params = {"name": name, "now": datetime.now(UTC)}
    if db.is_sqlite:
        with db.engine.connect() as connection:
            rows = connection.execute(_READ, params).all()
    else:
        # Not in a transaction: one statement needs none, and BEGIN and COMMIT are two round trips more.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            rows = connection.execute(_READ, params).all()
    if not rows:
        return None
    first = rows[0]
    return _Seen(
        account_id=first.id,
        password_hash=first.password_hash,
        state=first.state,
        failed_logins=first.failed_logins,
        locked_until=first.locked_until,
        temporary_id=first.temporary_id,
        temporary_digest=first.temporary_hash,
        language=first.language,
    )


def _sign_in(
    db: Database, *, policy: LoginPolicy, seen: _Seen, new_hash: str | None, origin: Origin
) -> LoginResult | None:
    """The right password, no temporary one: the account's update, its session and the audit row in one
    transaction of three statements; None when the account changed since the read (then _record).

    Plain Core statements on one connection (issue 18): the ORM's unit of work (flush, identity map,
    the session's own transaction) was about a seventh of IAM's CPU on the login POST for these three
    rows, which nothing reads back through it."""
    now = datetime.now(UTC)
    with db.engine.begin() as connection:
        signed: Row[Any] | None = connection.execute(
            _SIGN_IN,
            {
                "account_id": seen.account_id,
                "seen_hash": seen.password_hash,
                "now": now,
                "round_now": revocation_clock.now(),
                "new_hash": new_hash or seen.password_hash,  # argon2 parameters changed: upgraded at login
            },
        ).first()
        if signed is None:
            return None
        # The account's claims as updated (a detached object): the session, the audit row and an
        # authorization request the login continues read them.
        account = Account(**{column.name: signed._mapping[column.name] for column in ACCOUNT_COLUMNS})
        token, sso = new_session(account=account, origin=origin, sso_policy=policy.sso, now=now)
        entry = audit.new_entry(
            action="login.succeeded",
            origin=origin,
            account_id=account.id,
            details={"temporary_password": False, "state": account.state},
        )
        connection.execute(_INSERT_SESSION, _columns(SsoSession, sso))
        connection.execute(_INSERT_AUDIT, audit.row(entry))
    return _result(account=account, token=token, sso=sso, language=seen.language)


_INSERT_SESSION = insert(SsoSession.__table__)  # type: ignore[arg-type]
_INSERT_AUDIT = insert(AuditEntry.__table__)  # type: ignore[arg-type]


def _columns(model: Any, row: Any) -> dict[str, Any]:
    return {prop.columns[0].key: getattr(row, prop.key) for prop in model.__mapper__.column_attrs}


def _record(
    db: Database,
    *,
    policy: LoginPolicy,
    seen: _Seen,
    correct: bool,
    temporary_id: uuid.UUID | None,
    new_hash: str | None,
    origin: Origin,
) -> LoginResult:
    now = datetime.now(UTC)
    with db.transaction() as session:
        account = session.get(Account, seen.account_id, with_for_update=True)
        if account is None:  # deleted meanwhile: nothing left to log in to
            return LoginResult(Outcome.INVALID)

        until = bruteforce.locked_until(account, now)
        if until is not None:
            audit.record(
                session,
                action="login.locked",
                origin=origin,
                account_id=account.id,
                details={"reason": "locked", "failures": account.failed_logins},
            )
            if bruteforce.at_ceiling(account):  # a new link only once the last one has expired
                unlock_links.offer(session, policy=policy.unlock, account=account, origin=origin)
            return LoginResult(Outcome.LOCKED, locked_until=until)

        # The password may have changed between the read and now: a match against the old one counts for
        # nothing. A temporary password is used up by one conditional UPDATE (two logins cannot both win).
        correct = correct and account.password_hash == seen.password_hash
        used_temporary = temporary_id is not None and (
            links.spend(session, TemporaryPassword, now, id=temporary_id) is not None
        )
        if not correct and not used_temporary:
            until = bruteforce.register_failure(account, policy.lock, now)
            audit.record(
                session,
                action="login.failed",
                origin=origin,
                account_id=account.id,
                details={"reason": "wrong_password", "failures": account.failed_logins},
            )
            if until is not None:
                audit.record(
                    session,
                    action="login.locked",
                    origin=origin,
                    account_id=account.id,
                    details={"reason": "too_many_failures", "failures": account.failed_logins},
                )
                if bruteforce.at_ceiling(account):  # no more guesses: the owner gets the way out
                    unlock_links.offer(session, policy=policy.unlock, account=account, origin=origin)
                return LoginResult(Outcome.LOCKED, locked_until=until)
            return LoginResult(Outcome.INVALID)

        bruteforce.reset(account)
        if account.state in (AccountState.DISABLED.value, AccountState.REVOKED.value):
            audit.record(
                session,
                action="login.failed",
                origin=origin,
                account_id=account.id,
                details={"reason": account.state},
            )
            return LoginResult(Outcome(account.state), account_id=account.id)
        if account.state not in USABLE_STATES:  # awaiting confirmation: it has no username yet
            audit.record(
                session,
                action="login.failed",
                origin=origin,
                account_id=account.id,
                details={"reason": account.state},
            )
            return LoginResult(Outcome.INVALID)

        if used_temporary:
            # The temporary password opens one session whose only page is the forced change (D-ACC-6).
            account.state = AccountState.MUST_CHANGE_PASSWORD.value
        elif new_hash is not None:
            account.password_hash = new_hash  # argon2 parameters changed: upgraded at login
        revocation.keep_on_login(session, account=account)  # D-REV-2: before the access is recorded
        account.last_access_at = now  # D-REV-2: logging in keeps the account
        return _signed_in(
            session,
            account=account,
            policy=policy,
            origin=origin,
            now=now,
            temporary=used_temporary,
            language=account.language,
        )


def _signed_in(
    session: Session,
    *,
    account: Account,
    policy: LoginPolicy,
    origin: Origin,
    now: datetime,
    temporary: bool,
    language: str | None,
) -> LoginResult:
    """A successful login's session and audit row, in the caller's transaction, and its result."""
    token, sso = start_session(session, account=account, origin=origin, sso_policy=policy.sso, now=now)
    audit.record(
        session,
        action="login.succeeded",
        origin=origin,
        account_id=account.id,
        details={"temporary_password": temporary, "state": account.state},
    )
    return _result(account=account, token=token, sso=sso, language=language)


def _result(*, account: Account, token: str, sso: SsoSession, language: str | None) -> LoginResult:
    outcome = (
        Outcome.MUST_CHANGE_PASSWORD
        if account.state == AccountState.MUST_CHANGE_PASSWORD.value
        else Outcome.SUCCEEDED
    )
    return LoginResult(
        outcome,
        account_id=account.id,
        sso_token=token,
        sso_session_id=sso.id,
        language=language,
        signed_in=SignedIn(session=sso, account=account),
    )


def _unknown_username(
    db: Database, *, policy: LoginPolicy, name: str, origin: Origin, now: datetime
) -> LoginResult:
    """The same answers as a wrong password, including the lock (the argon2 work is done by the caller)."""
    key = username_key(name)
    with db.transaction() as session:
        throttle = session.get(LoginThrottle, key, with_for_update=True)
        if throttle is None:
            throttle = LoginThrottle(username_key=key, failed_logins=0)
            session.add(throttle)
        until = bruteforce.locked_until(throttle, now)
        if until is None:
            until = bruteforce.register_failure(throttle, policy.lock, now)
            audit.record(
                session,
                action="login.failed",
                origin=origin,
                actor="anonymous",
                details={"reason": "unknown_username", "failures": throttle.failed_logins},
            )
        if until is not None:
            audit.record(
                session,
                action="login.locked",
                origin=origin,
                actor="anonymous",
                details={"reason": "unknown_username", "failures": throttle.failed_logins},
            )
            if bruteforce.at_ceiling(throttle):  # what an account's offer costs, nothing sent
                unlock_links.offer_for_unknown_name(
                    session, policy=policy.unlock, throttle=throttle, origin=origin
                )
            return LoginResult(Outcome.LOCKED, locked_until=until)
        return LoginResult(Outcome.INVALID)


def unlock(*, db: Database, account_id: uuid.UUID, origin: Origin, actor: str) -> bool:
    """Ops: lift the brute-force lock of an account (audited); False when there is no such account."""
    with db.transaction() as session:
        account = session.get(Account, account_id, with_for_update=True)
        if account is None:
            return False
        bruteforce.reset(account)
        unlock_links.end_links(session, account_id=account.id, now=datetime.now(UTC))
        audit.record(
            session,
            action="login.unlocked",
            origin=origin,
            account_id=account.id,
            actor=actor,
            details={"via": "ops"},
        )
        return True
