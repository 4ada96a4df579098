"""Temporary passwords (D-ACC-6, OWASP ASVS 5 6.4.1): random, short-lived, usable once, hashed, sealed.

Issuing one changes nothing about the account: the old password keeps working until the temporary one is
used at login (the oidc area calls `redeem`, then forces the change). `was_issued` lets every password
change refuse a temporary password as the new long-term one.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from iam.accounts.models import TemporaryPassword
from iam.passwords.hashing import verify_secret

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


def outstanding(session: Session, *, account_id: uuid.UUID, now: datetime | None = None) -> int:
    """How many unused, unexpired temporary passwords the account has."""
    now = now or datetime.now(UTC)
    return (
        session.scalar(
            select(func.count())
            .select_from(TemporaryPassword)
            .where(
                TemporaryPassword.account_id == account_id,
                TemporaryPassword.used_at.is_(None),
                TemporaryPassword.expires_at > now,
            )
        )
        or 0
    )


def store(
    session: Session, *, account_id: uuid.UUID, password_hash: str, issued_by: str, ttl: timedelta
) -> TemporaryPassword:
    """Add a temporary password (its argon2 hash only) to the session."""
    now = datetime.now(UTC)
    row = TemporaryPassword(
        id=uuid.uuid4(),
        account_id=account_id,
        password_hash=password_hash,
        issued_by=issued_by,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    return row


def expire_outstanding(session: Session, *, account_id: uuid.UUID, now: datetime | None = None) -> None:
    """End every outstanding temporary password of the account (after a password change or a new reset)."""
    now = now or datetime.now(UTC)
    session.execute(
        update(TemporaryPassword)
        .where(
            TemporaryPassword.account_id == account_id,
            TemporaryPassword.used_at.is_(None),
            TemporaryPassword.expires_at > now,
        )
        .values(expires_at=now)
    )


def redeem(session: Session, *, account_id: uuid.UUID, password: str, now: datetime | None = None) -> bool:
    """True once for a valid temporary password of the account, which is then used up (single use).

    One conditional UPDATE per candidate: two concurrent logins with the same password cannot both win.
    The caller (the login) then puts the account in must_change_password and forces the change.
    """
    now = now or datetime.now(UTC)
    candidates = session.scalars(
        select(TemporaryPassword).where(
            TemporaryPassword.account_id == account_id,
            TemporaryPassword.used_at.is_(None),
            TemporaryPassword.expires_at > now,
        )
    ).all()
    for candidate in candidates:
        if verify_secret(candidate.password_hash, password):
            used = session.execute(
                update(TemporaryPassword)
                .where(TemporaryPassword.id == candidate.id, TemporaryPassword.used_at.is_(None))
                .values(used_at=now)
            )
            return bool(used.rowcount)  # type: ignore[attr-defined]
    return False


def was_issued(
    session: Session, *, account_id: uuid.UUID, password: str, now: datetime | None = None
) -> bool:
    """True when `password` is one of the account's recent temporary passwords (used or not): it may never
    become the long-term password (ASVS 5 6.4.1)."""
    now = now or datetime.now(UTC)
    hashes = session.scalars(
        select(TemporaryPassword.password_hash).where(
            TemporaryPassword.account_id == account_id, TemporaryPassword.created_at > now - REMEMBERED
        )
    ).all()
    return any(verify_secret(stored, password) for stored in hashes)
