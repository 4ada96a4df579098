"""The forced change after a temporary password (D-ACC-6): the user's own password replaces it, every other
session ends and this browser gets a fresh one; the temporary password itself is refused (ASVS 5 6.4.1)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from polis.db import Database

from iam import events
from iam.accounts import temporary_passwords as temporary
from iam.accounts.models import Account, AccountState
from iam.audit import service as audit
from iam.audit.service import Origin
from iam.passwords import hashing
from iam.signin.login import MAX_PASSWORD, MIN_PASSWORD_FALLBACK, LoginPolicy
from iam.signin.sessions import end_all_sessions, start_session

TEMPORARY_PASSWORD_REUSED = "temporary_password"  # noqa: S105 - a problem code
NOT_REQUIRED = "not_required"


class PasswordRefused(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(", ".join(problems))
        self.problems = problems


def _policy_check() -> Callable[..., Sequence[str]] | None:
    try:
        from iam.passwords.policy import check_password  # owned by the registration area
    except ImportError:
        return None
    return check_password


def password_problems(account: Account, password: str) -> list[str]:
    """The password policy's problem codes for this account (empty when the password is acceptable)."""
    check = _policy_check()
    if check is None:
        return ["too_short"] if len(password) < MIN_PASSWORD_FALLBACK else []
    return list(
        check(
            password,
            username=account.username or "",
            first_name=account.first_name,
            last_name=account.last_name,
            codice_fiscale=account.codice_fiscale,
        )
    )


def change_forced_password(
    *, db: Database, policy: LoginPolicy, account_id: uuid.UUID, new_password: str, origin: Origin
) -> str:
    """Replace the temporary password with the user's own (D-ACC-6); returns the new SSO cookie token.

    Every other session ends (credentials_version moves on); this browser gets a fresh session.
    """
    now = datetime.now(UTC)
    with db.transaction() as session:  # checks first, outside the write transaction (argon2 is slow)
        account = session.get(Account, account_id)
        if account is None or account.state != AccountState.MUST_CHANGE_PASSWORD.value:
            raise PasswordRefused([NOT_REQUIRED])
        if len(new_password) > MAX_PASSWORD:
            problems = ["too_long"]
        else:
            problems = password_problems(account, new_password)
        if not problems and temporary.was_issued(
            session, account_id=account.id, password=new_password, now=now
        ):
            problems = [TEMPORARY_PASSWORD_REUSED]  # never the long-term password (ASVS 5 6.4.1)
        version = account.credentials_version
    if problems:
        raise PasswordRefused(problems)
    new_hash = hashing.hash_secret(new_password, ph=policy.hasher)
    with db.transaction() as session:
        account = session.get(Account, account_id, with_for_update=True)
        if (
            account is None
            or account.state != AccountState.MUST_CHANGE_PASSWORD.value
            or account.credentials_version != version
        ):
            raise PasswordRefused([NOT_REQUIRED])
        account.password_hash = new_hash
        account.password_changed_at = now
        account.state = AccountState.ACTIVE.value
        account.credentials_version = (account.credentials_version or 1) + 1
        temporary.expire_outstanding(session, account_id=account.id, now=now)
        end_all_sessions(session, account_id=account.id, now=now)
        token, _ = start_session(session, account=account, origin=origin, sso_policy=policy.sso, now=now)
        audit.record(
            session, action="password.changed", origin=origin, account_id=account.id, details={"forced": True}
        )
        events.publish(
            session, "iam.password_changed", {"account_id": str(account.id), "changed_at": now.isoformat()}
        )
        return token
