"""The end user as the provider sees it (claims of an account at the time of a request), and the issuer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import (
    scope_to_list,
)
from authlib.oidc.core import UserInfo
from flask import current_app

from iam.accounts.models import Account, AccountState
from iam.extensions import db

USABLE_STATES = (AccountState.ACTIVE.value,)
FISCAL_NUMBER_CLAIM = "https://attributes.eid.gov.it/fiscal_number"


def issuer() -> str:
    return str(current_app.config["OIDC_ISSUER"])


@dataclass(frozen=True)
class User:
    """The end user as the provider sees it: a copy of the account's claims at the time of the request."""

    account_id: uuid.UUID
    username: str | None
    first_name: str
    last_name: str
    email: str | None
    email_verified: bool
    language: str
    credentials_version: int
    codice_fiscale: str | None = None
    roles: tuple[str, ...] = ()
    sso_session_id: uuid.UUID | None = None
    auth_time: int | None = None  # when the user typed the password (the SSO session's start)

    @classmethod
    def of(
        cls, account: Account | Any, sso_session_id: uuid.UUID | None = None, auth_time: int | None = None
    ) -> User:
        """From an Account, or a row of the account columns of ACCOUNT_COLUMNS (the refresh grant's read)."""
        verified = bool(account.institutional_email) or account.personal_email_verified_at is not None
        return cls(
            account_id=account.id,
            username=account.username,
            first_name=account.first_name,
            last_name=account.last_name,
            # D-ACC-8: the institutional address where there is one (Account.reference_email)
            email=account.institutional_email or account.personal_email,
            email_verified=verified,
            language=account.language,
            credentials_version=account.credentials_version,
            codice_fiscale=account.codice_fiscale,
            roles=tuple(account.roles or ()),
            sso_session_id=sso_session_id,
            auth_time=auth_time,
        )

    def get_user_id(self) -> str:
        return self.subject

    @property
    def subject(self) -> str:
        # Stable and opaque: the account id never changes, unlike a username or an email address.
        return str(self.account_id)

    def claims(self, scope: str) -> UserInfo:
        """The claims this scope releases: profile, email, and the codice fiscale under `fiscal_number`
        with the claim name SPID/CIE relying parties already read."""
        info = UserInfo(
            sub=self.subject,
            preferred_username=self.username,
            given_name=self.first_name,
            family_name=self.last_name,
            name=f"{self.first_name} {self.last_name}",
            locale=self.language,
            email=self.email,
            email_verified=self.email_verified,
        ).filter(scope)
        if self.codice_fiscale and "fiscal_number" in scope_to_list(scope or ""):
            info[FISCAL_NUMBER_CLAIM] = self.codice_fiscale
        return info


def load_user(
    account_id: uuid.UUID, sso_session_id: uuid.UUID | None = None, auth_time: int | None = None
) -> User | None:
    with db.transaction() as session:
        account = session.get(Account, account_id)
        if account is None or account.state not in USABLE_STATES:
            return None
        return User.of(account, sso_session_id, auth_time)
