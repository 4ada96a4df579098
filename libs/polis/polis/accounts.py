"""The copy of IAM's accounts that a consuming service keeps from IAM's fact events (never IAM's tables).

IAM's facts (the iam.account_* and iam.*_email_* contracts in polis/events/contracts) describe an account;
enablement and the notifier each keep an `accounts` table of their own, filled by their consumers. What
those copies share is the facts' shape: the columns the facts fill (AccountCopy, a mixin for the service's
own declarative model) and which fields each fact brings (the tuples below, applied by `copy_fact` and
`describe`). What a service does beyond that stays in the service: the notifier's kind and state, what an
event about an account no fact has described yet means.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Boolean, DateTime, String, Uuid
from sqlalchemy.orm import Mapped, Session, mapped_column

# The fields each of IAM's facts brings.
REGISTERED = ("username", "first_name", "last_name", "language", "personal_email", "institutional_email")
ACTIVATED = ("username",)
PROFILE_CHANGED = ("first_name", "last_name", "language")
PERSONAL_EMAIL_CHANGED = ("personal_email",)
INSTITUTIONAL_EMAIL_SET = ("institutional_email",)


class AccountCopy:
    """The columns of an account as IAM's facts describe it; the service's model adds its own."""

    # First in the table, before the model's own columns (the rest of these follow them).
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, sort_order=-1)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(8))
    personal_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    institutional_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def reference_address(self) -> str | None:
        """The institutional address where it exists, else the personal one (D-ACC-8)."""
        return self.institutional_email or self.personal_email


A = TypeVar("A", bound=AccountCopy)


def copy_fact(account: AccountCopy, data: Mapping[str, Any], fields: Iterable[str]) -> None:
    """The fact's `fields` copied onto the account, which is marked updated now."""
    for name in fields:
        setattr(account, name, data[name])
    account.updated_at = datetime.now(UTC)


def describe(
    session: Session, model: type[A], data: Mapping[str, Any], fields: Iterable[str] = REGISTERED
) -> A:
    """iam.account_registered: a new account (or one described again) replaces what the copy had."""
    key = uuid.UUID(data["account_id"])
    account = session.get(model, key)
    if account is None:
        account = model()
        account.account_id = key
        account.revoked = False
    copy_fact(account, data, fields)
    session.add(account)
    return account
