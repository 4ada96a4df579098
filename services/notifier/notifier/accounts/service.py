"""Keeping the accounts read model in step with IAM's facts; every function runs in the consumer's session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import polis.accounts as iam_facts
from sqlalchemy.orm import Session

from notifier.accounts.models import Account


class UnknownAccount(LookupError):
    """An event names an account no fact has described yet: retried (the fact may come later), then parked."""


def get(session: Session, account_id: str) -> Account:
    account = session.get(Account, uuid.UUID(account_id))
    if account is None:
        raise UnknownAccount(f"unknown account {account_id}")
    return account


def registered(session: Session, data: dict[str, Any]) -> None:
    """iam.account_registered: a new account (or an MI import describing it again) replaces what we had."""
    iam_facts.describe(session, Account, data, ("kind", "state", *iam_facts.REGISTERED))


def activated(session: Session, data: dict[str, Any]) -> None:
    account = get(session, data["account_id"])
    account.state = "active"
    iam_facts.copy_fact(account, data, iam_facts.ACTIVATED)


def profile_changed(session: Session, data: dict[str, Any]) -> None:
    iam_facts.copy_fact(get(session, data["account_id"]), data, iam_facts.PROFILE_CHANGED)


def personal_email_changed(session: Session, data: dict[str, Any]) -> None:
    iam_facts.copy_fact(get(session, data["account_id"]), data, iam_facts.PERSONAL_EMAIL_CHANGED)


def institutional_email_set(session: Session, data: dict[str, Any]) -> None:
    iam_facts.copy_fact(get(session, data["account_id"]), data, iam_facts.INSTITUTIONAL_EMAIL_SET)


def revoked(session: Session, data: dict[str, Any]) -> None:
    account = get(session, data["account_id"])
    account.revoked = True
    account.state = "revoked"
    account.updated_at = datetime.now(UTC)
