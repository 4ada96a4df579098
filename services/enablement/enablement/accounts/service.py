"""Keeping the accounts copy in step with IAM's facts; every function runs in the consumer's session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import polis.accounts as iam_facts
from sqlalchemy import select
from sqlalchemy.orm import Session

from enablement.accounts.models import Account


class UnknownAccount(LookupError):
    """An event names an account no fact has described yet: retried (the fact may come later), then parked."""


def get(session: Session, account_id: uuid.UUID | str) -> Account | None:
    return session.get(Account, uuid.UUID(str(account_id)))


def by_username(session: Session, username: str) -> Account | None:
    """The account with this IAM username (as IAM's facts gave it), if known; revoked ones are not."""
    return session.scalars(
        select(Account).where(Account.username == username.strip().lower(), Account.revoked.is_(False))
    ).first()


def many(session: Session, account_ids: list[uuid.UUID]) -> dict[uuid.UUID, Account]:
    if not account_ids:
        return {}
    rows = session.scalars(select(Account).where(Account.account_id.in_(account_ids)))
    return {account.account_id: account for account in rows}


def registered(session: Session, data: dict[str, Any]) -> None:
    """iam.account_registered: a new account (or one described again) replaces what we had."""
    iam_facts.describe(session, Account, data)


def _known(session: Session, account_id: str) -> Account:
    account = get(session, account_id)
    if account is None:
        raise UnknownAccount(f"unknown account {account_id}")
    return account


def activated(session: Session, data: dict[str, Any]) -> None:
    iam_facts.copy_fact(_known(session, data["account_id"]), data, iam_facts.ACTIVATED)


def profile_changed(session: Session, data: dict[str, Any]) -> None:
    iam_facts.copy_fact(_known(session, data["account_id"]), data, iam_facts.PROFILE_CHANGED)


def personal_email_changed(session: Session, data: dict[str, Any]) -> None:
    iam_facts.copy_fact(_known(session, data["account_id"]), data, iam_facts.PERSONAL_EMAIL_CHANGED)


def revoked(session: Session, data: dict[str, Any]) -> None:
    account = get(session, data["account_id"])
    if account is not None:
        account.revoked = True
        account.updated_at = datetime.now(UTC)
