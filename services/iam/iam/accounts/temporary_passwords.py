"""Temporary passwords (D-ACC-6, OWASP ASVS 5 6.4.1): random, short-lived, usable once, hashed, sealed.

Issuing one changes nothing about the account: the old password keeps working until the temporary one is
used at login (the sign-in uses it up, then forces the change). `was_issued` lets every password
change refuse a temporary password as the new long-term one.

`issue` is the one way to hand one out (self-service recovery, the security officer's MI reset): the row,
the sealed event for the notifier and the audit entry, in the caller's transaction; `rehearse` runs the
same work for a request that issues nothing (uniform timing). At most one is live per account: a new one
ends the earlier ones (`store`). It is kept as a SHA-256 digest,
not an argon2 hash: it is random (~93 bits), lives 30 minutes and is used once, so a slow hash adds nothing
against offline guessing, while a digest lets the login find it by (account, digest) without any argon2
run. The login thus costs exactly one argon2 verification whatever is pending (issue 11 item 2: each
pending argon2 hash cost a wrong login one more run, which told a timing observer that a recovery matched).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from polis.events import Event
from polis.events.sealing import Sealer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from iam import events
from iam.accounts import links
from iam.accounts.models import TemporaryPassword
from iam.audit import service as audit
from iam.audit.service import Origin

EVENT = "iam.temporary_password_issued"

# Letters and digits without the look-alikes (0/O, 1/l/I): the user types it from an email.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
LENGTH = 16  # >= 12 (D-ACC-6); log2(57) * 16 ~ 93 bits
SELF_SERVICE = "self_service"
SECURITY_OFFICER = "security_officer"
# How far back a password change looks for temporary passwords it must refuse as the new password.
REMEMBERED = timedelta(days=30)


def generate() -> str:
    """A new temporary password from the operating system's CSPRNG (`secrets`)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


PREFIX = "sha256:"


def digest(password: str) -> str:
    """What is stored of a temporary password (and looked up at login): its SHA-256, never the password."""
    return PREFIX + hashlib.sha256(password.encode()).hexdigest()


def issued_since(session: Session, *, account_id: uuid.UUID, since: datetime) -> int:
    """How many temporary passwords the account was issued since `since`, live or replaced (the cap on
    requests: replacing keeps at most one live, this keeps the mailbox from being flooded)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(TemporaryPassword)
            .where(TemporaryPassword.account_id == account_id, TemporaryPassword.created_at > since)
        )
        or 0
    )


def store(
    session: Session, *, account_id: uuid.UUID, password: str, issued_by: str, ttl: timedelta
) -> TemporaryPassword:
    """Add a temporary password (its digest only) to the session; earlier live ones of the account end."""
    now = datetime.now(UTC)
    expire_outstanding(session, account_id=account_id, now=now)
    row = TemporaryPassword(
        id=uuid.uuid4(),
        account_id=account_id,
        password_hash=digest(password),
        issued_by=issued_by,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    return row


def expire_outstanding(session: Session, *, account_id: uuid.UUID, now: datetime | None = None) -> None:
    """End every outstanding temporary password of the account (after a password change or a new reset)."""
    links.expire(session, TemporaryPassword, account_id=account_id, now=now or datetime.now(UTC))


def redeem(session: Session, *, account_id: uuid.UUID, password: str, now: datetime | None = None) -> bool:
    """True once for the account's live temporary password, which is then used up (single use).

    One conditional UPDATE found by (account, digest): two concurrent logins cannot both win. The caller
    (the login) then puts the account in must_change_password and forces the change.
    """
    used = links.spend(
        session,
        TemporaryPassword,
        now or datetime.now(UTC),
        account_id=account_id,
        password_hash=digest(password),
    )
    return used is not None


def was_issued(
    session: Session, *, account_id: uuid.UUID, password: str, now: datetime | None = None
) -> bool:
    """True when `password` is one of the account's recent temporary passwords (used or not): it may never
    become the long-term password (ASVS 5 6.4.1)."""
    now = now or datetime.now(UTC)
    found = session.scalar(
        select(TemporaryPassword.id).where(
            TemporaryPassword.account_id == account_id,
            TemporaryPassword.password_hash == digest(password),
            TemporaryPassword.created_at > now - REMEMBERED,
        )
    )
    return found is not None


def _event(
    sealer: Sealer, *, account_id: uuid.UUID, password: str, expires_at: datetime, issued_by: str
) -> Event:
    return events.event(
        EVENT,
        {
            "account_id": str(account_id),
            # Only the notifier can open it; IAM keeps nothing but its digest.
            "temporary_password": sealer.seal(password),
            "expires_at": expires_at.isoformat(),
            "issued_by": issued_by,
        },
    )


def issue(
    session: Session,
    *,
    account_id: uuid.UUID,
    password: str,
    issued_by: str,
    ttl: timedelta,
    sealer: Sealer,
    action: str,
    origin: Origin,
    actor: str,
) -> datetime:
    """Hand out a temporary password in the caller's transaction: stored (replacing a live one), sealed
    for the notifier (iam.temporary_password_issued) and audited as `action` by `actor`; its expiry."""
    row = store(session, account_id=account_id, password=password, issued_by=issued_by, ttl=ttl)
    made = _event(
        sealer, account_id=account_id, password=password, expires_at=row.expires_at, issued_by=issued_by
    )
    events.record_or_rehearse(session, made, keep=True)
    audit.record(
        session,
        action=action,
        origin=origin,
        account_id=account_id,
        actor=actor,
        details={"issued_by": issued_by, "expires_at": row.expires_at.isoformat()},
    )
    return row.expires_at


def rehearse(session: Session, *, password: str, ttl: timedelta, sealer: Sealer, issued_by: str) -> None:
    """What `issue` costs besides storing and auditing (the digest, ending live ones, sealing, building,
    validating and inserting the event, then rolled back), for a request that issues nothing."""
    digest(password)
    expire_outstanding(session, account_id=uuid.uuid4())  # a random account: nothing matches
    made = _event(
        sealer,
        account_id=uuid.uuid4(),
        password=password,
        expires_at=datetime.now(UTC) + ttl,
        issued_by=issued_by,
    )
    events.record_or_rehearse(session, made, keep=False)
