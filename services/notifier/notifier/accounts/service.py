"""Keeping the accounts read model in step with IAM's facts; every function runs in the consumer's session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from notifier.accounts.models import Account


class UnknownAccount(LookupError):
    """An event names an account no fact has described yet: retried (the fact may come later), then parked."""


def _now() -> datetime:
    return datetime.now(UTC)


def get(session: Session, account_id: str) -> Account:
    account = session.get(Account, uuid.UUID(account_id))
    if account is None:
        raise UnknownAccount(f"unknown account {account_id}")
    return account


def registered(session: Session, data: dict[str, Any]) -> None:
    """iam.account_registered: a new account (or an MI import describing it again) replaces what we had."""
    key = uuid.UUID(data["account_id"])
    account = session.get(Account, key) or Account(account_id=key, revoked=False)
    account.kind = data["kind"]
    account.state = data["state"]
    account.username = data["username"]
    account.first_name = data["first_name"]
    account.last_name = data["last_name"]
    account.language = data["language"]
    account.personal_email = data["personal_email"]
    account.institutional_email = data["institutional_email"]
    account.updated_at = _now()
    session.add(account)


def activated(session: Session, data: dict[str, Any]) -> None:
    account = get(session, data["account_id"])
    account.state = "active"
    account.username = data["username"]
    account.updated_at = _now()


def profile_changed(session: Session, data: dict[str, Any]) -> None:
    account = get(session, data["account_id"])
    account.first_name = data["first_name"]
    account.last_name = data["last_name"]
    account.language = data["language"]
    account.updated_at = _now()


def personal_email_changed(session: Session, data: dict[str, Any]) -> None:
    account = get(session, data["account_id"])
    account.personal_email = data["personal_email"]
    account.updated_at = _now()


def institutional_email_set(session: Session, data: dict[str, Any]) -> None:
    account = get(session, data["account_id"])
    account.institutional_email = data["institutional_email"]
    account.updated_at = _now()


def revoked(session: Session, data: dict[str, Any]) -> None:
    account = get(session, data["account_id"])
    account.revoked = True
    account.state = "revoked"
    account.updated_at = _now()
