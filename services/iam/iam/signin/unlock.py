"""Unlock links (issue 11 item 5): the way out of the lock at the ceiling of consecutive failures.

NIST SP 800-63B caps consecutive failures at 100 (bruteforce.py); before, the account then stayed locked
until ops lifted it, so anyone could lock anyone out for good in about 21 hours. Now, when an account
reaches the ceiling, one single-use link goes to every address of the account (personal and institutional,
through the outbox and the notifier); it resets the failure count, and the owner logs in with the password.
Whoever does not read the mailbox still cannot guess beyond the ceiling.

- At most one email per lock period: a period lasts while its link is live (`ttl`, 24 h by default, or
  until it is used or ops unlock). A locked attempt after the link expired unused sends a new one; no
  number of attempts sends more (no mail-bombing).
- The link is signed (a forged token fails before any lookup, itsdangerous with its own salt and max_age),
  random, stored only as its SHA-256, used by one conditional UPDATE (two uses cannot both win), sealed
  for the notifier in the event: the same as registration's confirmation links.
- The login page answers the same for a name that matches no account (D-ACC-6 style uniform answers): the
  message says a link was sent *if* the name is an account's, and the unknown name runs the same work (the
  link signed, sealed, its row, event and audit entry written in a savepoint rolled back).
- Audited: `login.unlock_link_sent` (with the failure count) and `login.unlocked` (`via: email_link`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from polis.config import Secret
from polis.db import Database
from polis.errors import ApiError
from polis.events.sealing import Sealer
from sqlalchemy import select
from sqlalchemy.orm import Session

from iam import events
from iam.accounts import links
from iam.accounts.models import Account, AccountState
from iam.audit import service as audit
from iam.audit.service import Origin
from iam.signin import bruteforce
from iam.signin.models import LoginThrottle, UnlockLink

EVENT = "iam.account_unlock_link_issued"
UNLOCK_PATH = "/iam/accedi/sblocca/"
LINK_SALT = "iam.login.unlock"
# Accounts whose owner can use a login: an unlock link for any other would open nothing.
MAILED_STATES = (AccountState.ACTIVE.value, AccountState.MUST_CHANGE_PASSWORD.value)


class InvalidUnlockLink(ApiError):
    # One answer for forged, unknown, used and expired links: it must not tell which tokens exist.
    status = 400
    code = "invalid_token"
    message = "The unlock link is not valid, was already used or has expired."


@dataclass(frozen=True)
class UnlockPolicy:
    """Where links point, how long they live (the lock period of one email), their key and sealer."""

    public_base_url: str
    ttl: timedelta
    signing_key: Secret
    sealer: Sealer

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> UnlockPolicy:
        return cls(
            public_base_url=settings["PUBLIC_BASE_URL"],
            ttl=timedelta(hours=settings["LOGIN_UNLOCK_LINK_TTL_HOURS"]),
            # IAM's link key, under this purpose's own salt: a confirmation token never opens an unlock.
            signing_key=settings["REGISTRATION_SIGNING_KEY"],
            sealer=Sealer(settings["NOTIFIER_SEALING_PUBLIC_KEY"], settings["NOTIFIER_SEALING_KEY_ID"]),
        )

    def serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.signing_key.reveal(), salt=LINK_SALT)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _has_live_link(session: Session, account_id: uuid.UUID, now: datetime) -> bool:
    """Whether a link of this lock period is still out there (sent, not used, not expired)."""
    live = links.live(UnlockLink, now, account_id=account_id)
    return session.scalar(select(UnlockLink.id).where(*live).limit(1)) is not None


def _send(
    session: Session, policy: UnlockPolicy, *, account_id: uuid.UUID, failures: int, origin: Origin
) -> None:
    """The link's row, its sealed event for the notifier and the audit entry, in the caller's transaction."""
    now = datetime.now(UTC)
    token, link = links.issue(
        session, UnlockLink, account_id=account_id, ttl=policy.ttl, now=now, serializer=policy.serializer()
    )
    events.publish(
        session,
        EVENT,
        {
            "account_id": str(account_id),
            # Only the notifier can open it: the link is a credential until it is used.
            "unlock_url": policy.sealer.seal(f"{policy.public_base_url}{UNLOCK_PATH}{token}"),
            "expires_at": link.expires_at.isoformat(),
            "failures": failures,
        },
    )
    audit.record(
        session,
        action="login.unlock_link_sent",
        origin=origin,
        account_id=account_id,
        actor="anonymous",  # whoever made the last failed attempt
        details={"link_id": str(link.id), "failures": failures},
    )
    session.flush()


def offer(session: Session, *, policy: UnlockPolicy, account: Account, origin: Origin) -> bool:
    """An account locked at the ceiling: send its unlock link unless one was sent in this lock period.

    Called with the account's row locked (the login's write transaction), so two concurrent attempts
    cannot both send. True when a link was sent.
    """
    if _has_live_link(session, account.id, datetime.now(UTC)):
        return False
    if account.state not in MAILED_STATES:
        _rehearse(session, policy, failures=account.failed_logins, origin=origin)  # same work, nothing kept
        return False
    _send(session, policy, account_id=account.id, failures=account.failed_logins, origin=origin)
    return True


def offer_for_unknown_name(
    session: Session, *, policy: UnlockPolicy, throttle: LoginThrottle, origin: Origin
) -> None:
    """A name that matches no account, at the ceiling: the same work and rhythm as `offer`, nothing sent."""
    now = datetime.now(UTC)
    _has_live_link(session, uuid.uuid4(), now)  # the lookup an account's offer makes
    last = _utc(throttle.unlock_mailed_at)
    if last is not None and last > now - policy.ttl:
        return
    throttle.unlock_mailed_at = now
    _rehearse(session, policy, failures=throttle.failed_logins, origin=origin)


def _rehearse(session: Session, policy: UnlockPolicy, *, failures: int, origin: Origin) -> None:
    """Sign, seal and write a link for nobody in a savepoint rolled back: the answer takes as long."""
    savepoint = session.begin_nested()
    _send(session, policy, account_id=uuid.uuid4(), failures=failures, origin=origin)
    savepoint.rollback()


def _token_checked(policy: UnlockPolicy, token: str) -> str:
    """The token if its signature holds and it is within its lifetime; a forged one goes no further."""
    try:
        policy.serializer().loads(token, max_age=int(policy.ttl.total_seconds()))
    except BadData:
        raise InvalidUnlockLink() from None
    return token


def link_usable(*, db: Database, policy: UnlockPolicy, token: str) -> bool:
    """Whether the link can still be used (signed, not used, not expired); changes nothing."""
    try:
        _token_checked(policy, token)
    except InvalidUnlockLink:
        return False
    with db.transaction() as session:
        return links.find(session, UnlockLink, token, datetime.now(UTC)) is not None


def unlock_with_link(*, db: Database, policy: UnlockPolicy, token: str, origin: Origin) -> uuid.UUID:
    """Use an unlock link: the failure count of its account is reset (audited); returns the account id.

    Raises InvalidUnlockLink, changing nothing, for a forged, unknown, used or expired link.
    """
    _token_checked(policy, token)
    now = datetime.now(UTC)
    with db.transaction() as session:
        # One conditional UPDATE: two concurrent uses of the same link cannot both succeed.
        used = links.spend_token(session, UnlockLink, token, now)
        if used is None:
            raise InvalidUnlockLink()
        account = session.get(Account, used.account_id, with_for_update=True)
        if account is None:
            raise InvalidUnlockLink()
        failures = account.failed_logins
        bruteforce.reset(account)
        end_links(session, account_id=account.id, now=now)
        audit.record(
            session,
            action="login.unlocked",
            origin=origin,
            account_id=account.id,
            details={"via": "email_link", "link_id": str(used.id), "failures": failures},
        )
        return account.id


def end_links(session: Session, *, account_id: uuid.UUID, now: datetime) -> None:
    """End the account's live unlock links: it is unlocked, its lock period is over (a later lock at the
    ceiling sends a fresh link at once)."""
    links.expire(session, UnlockLink, account_id=account_id, now=now)
