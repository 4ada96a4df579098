"""One row per IAM account, as IAM's fact events describe it: whom to write to and in which language."""

from __future__ import annotations

from polis.accounts import AccountCopy
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from notifier.models import Base


class Account(AccountCopy, Base):
    """The columns IAM's facts fill (polis.accounts.AccountCopy), with the account's kind and state."""

    __tablename__ = "accounts"

    kind: Mapped[str] = mapped_column(String(16))  # ordinary | mi
    state: Mapped[str] = mapped_column(String(32))

    def all_addresses(self) -> list[str]:
        """Every registered address, institutional first, without repeats (D-ACC-8: recovery messages)."""
        return list(dict.fromkeys(a for a in (self.institutional_email, self.personal_email) if a))
