"""Account use cases other areas reuse: create an account (with its fact event), name it, activate it.

These functions work inside the caller's transaction (they take its `session`), so that registration, the MI
import and others commit the account, its audit entries and its events together.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from polis.events import Event
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from iam import events
from iam.accounts.models import Account, AccountKind, AccountState

EVENT_REGISTERED = "iam.account_registered"
EVENT_ACTIVATED = "iam.account_activated"
USERNAME_MAX = 64
# Room for a numeric suffix: mario.rossi123456 still fits the column.
USERNAME_BASE_MAX = USERNAME_MAX - 6
FALLBACK_PART = "utente"


@dataclass(frozen=True)
class PersonalData:
    """Who the account belongs to, as registered (D-ACC-3) or imported (D-ACC-2)."""

    codice_fiscale: str
    first_name: str
    last_name: str
    birth_date: date | None = None
    sex: str | None = None
    birth_place_code: str | None = None
    birth_place_name: str | None = None


def username_part(name: str) -> str:
    """One half of `nome.cognome`: lower-case ASCII, accents folded, apostrophes, spaces, hyphens removed.

    D-ACC-2: "Niccolò" -> "niccolo", "D'Amico" -> "damico", "De Luca" -> "deluca", "Straße" -> "strasse".
    """
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in ascii_only if ch.isascii() and ch.isalnum()) or FALLBACK_PART


def username_base(first_name: str, last_name: str) -> str:
    """`nome.cognome` before any collision suffix (D-ACC-2)."""
    return f"{username_part(first_name)}.{username_part(last_name)}"[:USERNAME_BASE_MAX].rstrip(".")


def next_free_username(session: Session, base: str) -> str:
    """The first of base, base1, base2, ... that no account holds now (D-ACC-2)."""
    taken = set(
        session.scalars(
            select(Account.username).where(or_(Account.username == base, Account.username.like(f"{base}%")))
        )
    )
    if base not in taken:
        return base
    suffix = 1
    while f"{base}{suffix}" in taken:
        suffix += 1
    return f"{base}{suffix}"


def assign_username(session: Session, *, account: Account, attempts: int = 20) -> str:
    """Give `account` its `nome.cognome` username, race-safe: the unique constraint decides, we retry.

    Each try runs in a savepoint, so a collision with a concurrent activation rolls back only that try.
    """
    base = username_base(account.first_name, account.last_name)
    for _ in range(attempts):
        candidate = next_free_username(session, base)
        try:
            with session.begin_nested():
                session.execute(update(Account).where(Account.id == account.id).values(username=candidate))
        except IntegrityError:
            continue  # someone took it between our look and our write: look again
        account.username = candidate
        return candidate
    raise RuntimeError(f"no free username for base {base!r} after {attempts} attempts")


def create_account(
    session: Session,
    *,
    person: PersonalData,
    kind: AccountKind = AccountKind.ORDINARY,
    state: AccountState = AccountState.AWAITING_CONFIRMATION,
    language: str = "it",
    personal_email: str | None = None,
    personal_email_verified: bool = False,
    institutional_email: str | None = None,
    security_question: str | None = None,
    security_answer_hash: str | None = None,
    password_hash: str | None = None,
    username: str | None = None,
    roles: list[str] | None = None,
) -> Account:
    """Add an account and its iam.account_registered event to the caller's transaction.

    The live-codice-fiscale unique index raises IntegrityError at flush when the CF already has a live
    account (D-ACC-3): callers decide what that means for them.
    """
    now = datetime.now(UTC)
    account = Account(
        id=uuid.uuid4(),
        username=username,
        kind=kind.value,
        state=state.value,
        roles=list(roles or []),
        codice_fiscale=person.codice_fiscale.upper(),
        first_name=person.first_name,
        last_name=person.last_name,
        birth_date=person.birth_date,
        sex=person.sex,
        birth_place_code=person.birth_place_code,
        birth_place_name=person.birth_place_name,
        personal_email=personal_email,
        personal_email_verified_at=now if personal_email and personal_email_verified else None,
        institutional_email=institutional_email,
        language=language,
        security_question=security_question,
        security_answer_hash=security_answer_hash,
        password_hash=password_hash,
        password_changed_at=now if password_hash else None,
        credentials_version=1,
        failed_logins=0,
        created_at=now,
        activated_at=now if state is AccountState.ACTIVE else None,
    )
    with session.begin_nested():
        session.add(account)
        session.flush()
    events.record(session, registered_event(account))
    return account


def registered_event(account: Account) -> Event:
    """The iam.account_registered fact the notifier's read model is built from."""
    return events.event(
        EVENT_REGISTERED,
        {
            "account_id": str(account.id),
            "kind": account.kind,
            "state": account.state,
            "username": account.username,
            "first_name": account.first_name,
            "last_name": account.last_name,
            "language": account.language if account.language in ("it", "en") else "it",
            "personal_email": account.personal_email,
            "institutional_email": account.institutional_email,
        },
    )


def activate_account(session: Session, *, account: Account, password_hash: str) -> Account:
    """Set the first password, give the username, make the account active and emit iam.account_activated."""
    now = datetime.now(UTC)
    assign_username(session, account=account)
    account.password_hash = password_hash
    account.password_changed_at = now
    account.state = AccountState.ACTIVE.value
    account.activated_at = now
    if account.personal_email and account.personal_email_verified_at is None:
        # The confirmation link reached this mailbox: that proves the address (D-ACC-3, D-ACC-7).
        account.personal_email_verified_at = now
    session.flush()
    events.publish(
        session,
        EVENT_ACTIVATED,
        {"account_id": str(account.id), "username": account.username, "activated_at": now.isoformat()},
    )
    return account
