"""One row per IAM account as IAM's facts describe it: the personal data the adhesion form shows (D-ENA-2)."""

from __future__ import annotations

from polis.accounts import AccountCopy

from enablement.models import Base


class Account(AccountCopy, Base):
    """The columns IAM's facts fill (polis.accounts.AccountCopy), reference_address() among them (D-ACC-8)."""

    __tablename__ = "accounts"
