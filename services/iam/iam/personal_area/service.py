"""Area Riservata use cases (D-ACC-7, D-ACC-8): personal email by verified link, password, language.

Each function is one transaction: the change, its outbox event and its audit entry commit together.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from polis.db import Database
from polis.errors import ApiError, ValidationFailed
from polis.events.sealing import Sealer
from sqlalchemy.orm import Session

from iam import events
from iam.accounts import links
from iam.accounts import temporary_passwords as temporary
from iam.accounts.institutional import is_institutional
from iam.accounts.models import Account, AccountState
from iam.audit import service as audit
from iam.audit.service import Origin
from iam.passwords.hashing import hash_secret, hasher, verify_secret
from iam.passwords.policy import check_password
from iam.personal_area.models import EmailVerification
from iam.signin.sessions import end_all_sessions

VERIFY_PATH = "/iam/area-riservata/email/verifica"
LANGUAGES = ("it", "en")
SPENT = "verified_at"  # an email verification link is spent when the new address takes effect


class InvalidVerificationLink(ApiError):
    # One message for unknown, used and expired tokens: the answer must not tell which tokens exist.
    status = 400
    code = "invalid_token"
    message = "The verification link is not valid or has expired."


class AccountUnavailable(ApiError):
    status = 409
    code = "account_unavailable"
    message = "This account cannot be changed in its current state."


@dataclass(frozen=True)
class PersonalAreaPolicy:
    public_base_url: str
    verification_ttl: timedelta
    sealer: Sealer
    password_min_length: int = 15
    password_min_score: int = 3
    hasher: PasswordHasher = field(default_factory=hasher)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> PersonalAreaPolicy:
        return cls(
            public_base_url=settings["PUBLIC_BASE_URL"],
            verification_ttl=timedelta(hours=settings["EMAIL_VERIFICATION_TTL_HOURS"]),
            sealer=Sealer(settings["NOTIFIER_SEALING_PUBLIC_KEY"], settings["NOTIFIER_SEALING_KEY_ID"]),
            password_min_length=settings["PASSWORD_MIN_LENGTH"],
            password_min_score=settings["PASSWORD_MIN_SCORE"],
            hasher=hasher(settings["ARGON2_MEMORY_KIB"], settings["ARGON2_TIME_COST"]),
        )


def _usable(session: Session, account_id: uuid.UUID) -> Account:
    account = session.get(Account, account_id, with_for_update=True)
    if account is None or account.state != AccountState.ACTIVE.value:
        raise AccountUnavailable()
    return account


def request_email_change(
    *, db: Database, policy: PersonalAreaPolicy, account_id: uuid.UUID, email: str, origin: Origin
) -> EmailVerification:
    """Send a verification link to the new personal email; the account changes only when it is used."""
    email = email.strip()
    if is_institutional(email):
        # @istruzione.it addresses come only from the MI import (D-ACC-2, D-ACC-7).
        raise ValidationFailed(fields={"email": ["institutional_address"]})
    now = datetime.now(UTC)
    with db.transaction() as session:
        account = _usable(session, account_id)
        if account.personal_email and account.personal_email.lower() == email.lower():
            raise ValidationFailed(fields={"email": ["unchanged"]})
        # A newer request supersedes the older links: only the last address asked for can win.
        links.expire(session, EmailVerification, account_id=account.id, now=now, spent=SPENT)
        token, verification = links.issue(
            session,
            EmailVerification,
            account_id=account.id,
            ttl=policy.verification_ttl,
            now=now,
            email=email,
        )
        link = f"{policy.public_base_url}{VERIFY_PATH}/{token}"
        events.publish(
            session,
            "iam.email_verification_requested",
            {
                "account_id": str(account.id),
                "email": email,
                "verification_url": policy.sealer.seal(link),
                "expires_at": verification.expires_at.isoformat(),
            },
        )
        audit.record(
            session,
            action="personal_email.change_requested",
            origin=origin,
            account_id=account.id,
            details={"verification_id": str(verification.id)},
        )
    return verification


def verification_link_usable(*, db: Database, token: str) -> bool:
    """Whether a verification link can still be used (not used yet, not expired); changes nothing."""
    with db.transaction() as session:
        return links.find(session, EmailVerification, token, datetime.now(UTC), spent=SPENT) is not None


def verify_email_change(*, db: Database, token: str, origin: Origin) -> Account:
    """Use a verification link: the new personal email takes effect now (single use, before expiry); the
    previous one, if any, gets a notice (iam.personal_email_replaced)."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        # One conditional UPDATE: two concurrent uses of the same link cannot both succeed.
        verified = links.spend_token(session, EmailVerification, token, now, spent=SPENT)
        if verified is None:
            raise InvalidVerificationLink()
        verification = session.get_one(EmailVerification, verified.id)
        account = session.get(Account, verification.account_id, with_for_update=True)
        if account is None or account.state != AccountState.ACTIVE.value:
            raise InvalidVerificationLink()
        previous = account.personal_email
        account.personal_email = verification.email
        account.personal_email_verified_at = now
        events.publish(
            session,
            "iam.personal_email_changed",
            {"account_id": str(account.id), "personal_email": verification.email},
        )
        if previous and previous.lower() != verification.email.lower():
            # The previous address is told, with the helpdesk contact: a takeover that changed the email
            # does not go unseen by the owner (issue 13 item 6). The new address is not in the notice.
            events.publish(
                session,
                "iam.personal_email_replaced",
                {"account_id": str(account.id), "email": previous, "changed_at": now.isoformat()},
            )
        audit.record(
            session,
            action="personal_email.changed",
            origin=origin,
            account_id=account.id,
            details={"verification_id": str(verification.id), "had_previous": previous is not None},
        )
        session.flush()
        session.expunge(account)
    return account


def change_password(
    *,
    db: Database,
    policy: PersonalAreaPolicy,
    account_id: uuid.UUID,
    current_password: str,
    new_password: str,
    origin: Origin,
) -> Account:
    """Change the password with the current one; ends every session of the account (credentials_version).

    The caller starts a new SSO session for this browser afterwards if it wants to keep it signed in.
    """
    with db.transaction() as session:
        account = _usable(session, account_id)
        wrong = not verify_secret(account.password_hash, current_password, ph=policy.hasher)
        if wrong:
            # Recorded and committed: the failure is a security event even though nothing changes.
            audit.record(session, action="password.change_failed", origin=origin, account_id=account.id)
    if wrong:
        raise ValidationFailed(fields={"current_password": ["wrong_password"]})
    with db.transaction() as session:
        account = _usable(session, account_id)
        problems: list[str] = [
            str(problem)
            for problem in check_password(
                new_password,
                username=account.username,
                first_name=account.first_name,
                last_name=account.last_name,
                codice_fiscale=account.codice_fiscale,
                min_length=policy.password_min_length,
                min_score=policy.password_min_score,
            )
        ]
        if new_password == current_password:
            problems.append("same_as_current")
        if temporary.was_issued(session, account_id=account.id, password=new_password):
            problems.append("temporary_password")  # never the long-term password (ASVS 5 6.4.1)
        if problems:
            raise ValidationFailed(fields={"new_password": problems})
        now = datetime.now(UTC)
        account.password_hash = hash_secret(new_password, ph=policy.hasher)
        account.password_changed_at = now
        account.credentials_version += 1  # every session and token of the account ends
        end_all_sessions(session, account_id=account.id, now=now)  # and their clients are told (issue 5)
        temporary.expire_outstanding(session, account_id=account.id, now=now)
        events.publish(
            session, "iam.password_changed", {"account_id": str(account.id), "changed_at": now.isoformat()}
        )
        audit.record(
            session,
            action="password.changed",
            origin=origin,
            account_id=account.id,
            details={"credentials_version": account.credentials_version, "via": "area_riservata"},
        )
        session.flush()
        session.expunge(account)
    return account


def change_language(*, db: Database, account_id: uuid.UUID, language: str, origin: Origin) -> Account:
    """Set the preferred language; the notifier's read model follows through iam.account_profile_changed."""
    if language not in LANGUAGES:
        raise ValidationFailed(fields={"language": ["unknown_language"]})
    with db.transaction() as session:
        account = _usable(session, account_id)
        if account.language != language:
            account.language = language
            events.publish(
                session,
                "iam.account_profile_changed",
                {
                    "account_id": str(account.id),
                    "first_name": account.first_name,
                    "last_name": account.last_name,
                    "language": language,
                },
            )
            audit.record(
                session,
                action="profile.language_changed",
                origin=origin,
                account_id=account.id,
                details={"language": language},
            )
        session.flush()
        session.expunge(account)
    return account
