"""Recovery use cases: username reminder (D-ACC-5) and temporary password (D-ACC-6).

Uniform answers: the caller gets the same result whether or not anything matched, and both paths do the
same expensive work (one account lookup, one digest, one sealing, one audit entry) so that the
response time tells nothing either. The only different answer is the MI refusal of D-ACC-2, given only
when username *and* codice fiscale both match an MI account: whoever sees it already knew both.
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
from sqlalchemy import select
from sqlalchemy.orm import Session

from iam import events
from iam.accounts import temporary_passwords as temporary
from iam.accounts.models import Account, AccountKind, AccountState
from iam.audit import service as audit
from iam.audit.service import Origin
from iam.captcha import service as captcha_service
from iam.captcha.adapters import CaptchaAdapter
from iam.passwords.hashing import hasher

# Only these accounts can be recovered: awaiting confirmation has no username yet, disabled and revoked
# accounts are refused at login anyway (D-ACC-4).
RECOVERABLE_STATES = (AccountState.ACTIVE.value, AccountState.MUST_CHANGE_PASSWORD.value)


class InstitutionalAccountRefused(ApiError):
    """D-ACC-2: an MI password is never reset through the portal."""

    status = 409
    code = "institutional_account"
    message = (
        "This is an institutional (MI) account: its password cannot be reset here. "
        "Use the SIDI portal or ask your security officer."
    )


@dataclass(frozen=True)
class RecoveryPolicy:
    temporary_password_ttl: timedelta
    max_outstanding: int
    sealer: Sealer
    hasher: PasswordHasher = field(default_factory=hasher)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> RecoveryPolicy:
        return cls(
            temporary_password_ttl=timedelta(minutes=settings["TEMPORARY_PASSWORD_TTL_MINUTES"]),
            max_outstanding=settings["TEMPORARY_PASSWORD_MAX_OUTSTANDING"],
            sealer=Sealer(settings["NOTIFIER_SEALING_PUBLIC_KEY"], settings["NOTIFIER_SEALING_KEY_ID"]),
            hasher=hasher(settings["ARGON2_MEMORY_KIB"], settings["ARGON2_TIME_COST"]),
        )


def _require_captcha(session: Session, captcha: CaptchaAdapter, response: str) -> None:
    # Checked before anything is looked up: the refusal says nothing about accounts.
    if not captcha_service.verify(session, adapter=captcha, response=response):
        raise ValidationFailed(fields={"captcha": ["captcha_failed"]})


def normalise_codice_fiscale(value: str) -> str:
    return value.strip().upper()


def _recoverable_by_codice_fiscale(session: Session, codice_fiscale: str) -> Account | None:
    return session.scalars(
        select(Account).where(
            Account.codice_fiscale == normalise_codice_fiscale(codice_fiscale),
            Account.state.in_(RECOVERABLE_STATES),
        )
    ).first()


def request_username_reminder(
    *, db: Database, captcha: CaptchaAdapter, captcha_response: str, codice_fiscale: str, origin: Origin
) -> None:
    """Send the username to every address of the live account with this codice fiscale, if there is one.

    Same work on both paths: one lookup, one audit entry, one event built, validated and inserted (rolled
    back to its savepoint when nothing matched).
    """
    now = datetime.now(UTC)
    with db.transaction() as session:
        _require_captcha(session, captcha, captcha_response)
        account = _recoverable_by_codice_fiscale(session, codice_fiscale)
        audit.record(
            session,
            action="recovery.username_requested",
            origin=origin,
            account_id=account.id if account else None,
            actor="anonymous",
            details={"matched": account is not None},
        )
        reminder = events.event(
            "iam.username_reminder_requested",
            {"account_id": str(account.id if account else uuid.uuid4()), "requested_at": now.isoformat()},
        )
        events.record_or_rehearse(session, reminder, keep=account is not None)


def _equal_work(session: Session, policy: RecoveryPolicy, password: str) -> None:
    """What issuing costs besides storing the hash, for a request that issues nothing: its answer must take
    as long as one that does."""
    temporary.rehearse(
        session,
        password=password,
        ttl=policy.temporary_password_ttl,
        sealer=policy.sealer,
        issued_by=temporary.SELF_SERVICE,
    )


def request_temporary_password(
    *,
    db: Database,
    policy: RecoveryPolicy,
    captcha: CaptchaAdapter,
    captcha_response: str,
    username: str,
    codice_fiscale: str,
    origin: Origin,
) -> None:
    """Issue a temporary password when username and codice fiscale match a recoverable ordinary account.

    Nothing about the account changes: the old password keeps working until the temporary one is used.
    Raises InstitutionalAccountRefused only when the pair matches an MI account (D-ACC-2).
    """
    # The captcha first, alone: a request without a solved captcha costs no further work (issue 11 item 6).
    with db.transaction() as session:
        _require_captcha(session, captcha, captcha_response)
    # Then the work, on every path: generating, digesting and sealing cost the same whether or not
    # anything matches (the sealed value of a non-match is simply dropped).
    password = temporary.generate()
    with db.transaction() as session:
        account = _recoverable_by_codice_fiscale(session, codice_fiscale)
        matched = account is not None and account.username == username.strip().lower()
        # Counted on every path (a random id when nothing matched) so that both run the same queries. A new
        # one replaces the live one; the cap counts those issued within one lifetime, replaced or not.
        pending = temporary.issued_since(
            session,
            account_id=account.id if matched and account else uuid.uuid4(),
            since=datetime.now(UTC) - policy.temporary_password_ttl,
        )
        if not matched or account is None:
            _equal_work(session, policy, password)
            audit.record(
                session,
                action="recovery.password_requested",
                origin=origin,
                actor="anonymous",
                details={"matched": False},
            )
            return
        if account.kind == AccountKind.MI.value:
            _equal_work(session, policy, password)
            audit.record(
                session,
                action="recovery.password_refused_institutional",
                origin=origin,
                account_id=account.id,
                actor="anonymous",
            )
            refused = True
        elif pending >= policy.max_outstanding:
            _equal_work(session, policy, password)
            audit.record(
                session,
                action="recovery.password_capped",
                origin=origin,
                account_id=account.id,
                actor="anonymous",
                details={"max_outstanding": policy.max_outstanding},
            )
            refused = False
        else:
            temporary.issue(
                session,
                account_id=account.id,
                password=password,
                issued_by=temporary.SELF_SERVICE,
                ttl=policy.temporary_password_ttl,
                sealer=policy.sealer,
                action="recovery.temporary_password_issued",
                origin=origin,
                actor="anonymous",
            )
            refused = False
    if refused:
        raise InstitutionalAccountRefused()
