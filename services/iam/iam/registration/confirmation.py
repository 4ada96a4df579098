"""The confirmation link of a registration (D-ACC-3): sent at the summary (signed, random, stored as its
hash, sealed for the notifier), checked on its page, and used once to choose the password and activate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from itsdangerous import BadData
from sqlalchemy.orm import Session

from iam import events
from iam.accounts import links
from iam.accounts import service as accounts
from iam.accounts.models import Account, AccountState
from iam.audit import service as audit
from iam.audit.service import Origin
from iam.passwords import hashing
from iam.passwords.policy import check_password
from iam.registration.errors import InvalidRegistrationLink, RegistrationInvalid
from iam.registration.models import RegistrationConfirmation

if TYPE_CHECKING:
    from iam.registration.service import RegistrationPolicy

EVENT_CONFIRMATION_REQUESTED = "iam.registration_confirmation_requested"
CONFIRM_PATH = "/iam/registrazione/conferma/"


@dataclass(frozen=True)
class LinkCheck:
    """What the confirmation page shows before the password is chosen."""

    first_name: str
    last_name: str
    codice_fiscale: str
    username: str  # the username the account will get if activated now


def send_link(session: Session, policy: RegistrationPolicy, account: Account, now: datetime) -> None:
    # Signed (a forged token fails before any lookup), random, stored only as its hash, single use.
    token, confirmation = links.issue(
        session,
        RegistrationConfirmation,
        account_id=account.id,
        ttl=policy.link_ttl,
        now=now,
        serializer=policy.serializer(),
    )
    link = f"{policy.public_base_url}{CONFIRM_PATH}{token}"
    events.publish(
        session,
        EVENT_CONFIRMATION_REQUESTED,
        {
            "account_id": str(account.id),
            # Only the notifier can open it: the link is a credential until it is used.
            "confirmation_url": policy.sealer.seal(link),
            "expires_at": confirmation.expires_at.isoformat(),
        },
    )


# --- on the link's page ----------------------------------------------------------------------------------


def _confirmation(
    session: Session, policy: RegistrationPolicy, token: str
) -> tuple[RegistrationConfirmation, Account]:
    try:
        policy.serializer().loads(token, max_age=int(policy.link_ttl.total_seconds()))
    except BadData:
        raise InvalidRegistrationLink() from None
    confirmation = links.find(session, RegistrationConfirmation, token, datetime.now(UTC))
    if confirmation is None:
        raise InvalidRegistrationLink()
    account = session.get(Account, confirmation.account_id)
    if account is None or account.state != AccountState.AWAITING_CONFIRMATION.value:
        raise InvalidRegistrationLink()
    return confirmation, account


def check_link(*, db: Any, policy: RegistrationPolicy, token: str) -> LinkCheck:
    """Whether the link still works, and the username it would give now."""
    with db.transaction() as session:
        _confirmation_row, account = _confirmation(session, policy, token)
        username = accounts.next_free_username(
            session, accounts.username_base(account.first_name, account.last_name)
        )
        return LinkCheck(account.first_name, account.last_name, account.codice_fiscale, username)


def activate(
    *,
    db: Any,
    policy: RegistrationPolicy,
    token: str,
    password: str,
    password_confirmation: str | None = None,
    language: str = "it",
    origin: Origin,
) -> Account:
    """Use the link: choose the password (policy checked), get the username, the account becomes active.

    A refused password leaves the link usable; a used or expired link never works again.
    """
    with db.transaction() as session:
        confirmation, account = _confirmation(session, policy, token)
        language = account.language or language
        username = accounts.next_free_username(
            session, accounts.username_base(account.first_name, account.last_name)
        )
        problems: dict[str, list[str]] = {}
        found = check_password(
            password,
            username=username,
            first_name=account.first_name,
            last_name=account.last_name,
            codice_fiscale=account.codice_fiscale,
            min_length=policy.password_min_length,
            min_score=policy.password_min_score,
        )
        if found:
            problems["password"] = [str(problem) for problem in found]
        if password_confirmation is not None and password_confirmation != password:
            problems["password_confirmation"] = ["passwords_differ"]
        if problems:
            raise RegistrationInvalid(problems, language=language, min_length=policy.password_min_length)
        # The conditional UPDATE decides: of two concurrent uses of one link, only one activates.
        if links.spend(session, RegistrationConfirmation, datetime.now(UTC), id=confirmation.id) is None:
            raise InvalidRegistrationLink()
        accounts.activate_account(
            session, account=account, password_hash=hashing.hash_secret(password, ph=policy.hasher)
        )
        audit.record(
            session,
            action="registration.confirmed",
            origin=origin,
            account_id=account.id,
            actor="self",
            details={"username": account.username},
        )
        return account
