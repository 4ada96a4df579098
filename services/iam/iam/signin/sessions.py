"""IAM's SSO session (cookie `iam_sso`) and the interface other areas use: current_account, login_required.

The cookie holds a random token; the database row holds only its SHA-256, so a copy of the table opens no
session. A session ends at its idle timeout, at its absolute timeout, on logout, and as soon as the
account's `credentials_version` moves on (password change or reset, revocation: bump it to end every
session of an account). Areas that change a password for a signed-in user and want to keep *this* browser
signed in call `start_session` in the same transaction after the bump, then `set_cookie` on the response.

Ending a session ends what was issued in it, in the caller's transaction (issue 5 item 4): `end_session`
(logout) revokes the refresh token families of that session and their access tokens; `end_all_sessions`
(to be called in the same transaction as every credentials_version bump, disable or revocation) revokes
every refresh and access token of the account. Both owe a back-channel logout to every client of the
ended sessions that registered a URI for it (backchannel.schedule; IAM's worker delivers them).
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import current_app, g, redirect, request
from polis.db import Database
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, aliased
from werkzeug.wrappers.response import Response as BaseResponse

from iam.accounts.links import hash_token, new_token
from iam.accounts.models import Account, AccountState
from iam.audit.service import Origin
from iam.extensions import db
from iam.oidc import backchannel
from iam.oidc.models import AccessToken, RefreshToken
from iam.signin.models import SsoSession

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R", bound=BaseResponse)

COOKIE = "iam_sso"
# With Secure cookies (production) the name carries the __Host- prefix: browsers then refuse it unless
# Secure, Path=/ and without Domain, so a sibling host or a plain-http page cannot set or shadow it.
HOST_PREFIX = "__Host-"


def cookie_name(secure: bool) -> str:
    """The SSO cookie's name: __Host-iam_sso with Secure cookies, iam_sso in dev."""
    return HOST_PREFIX + COOKIE if secure else COOKIE


def current_cookie() -> str:
    return cookie_name(policy().secure_cookie)


LOGIN_PATH = "/iam/accedi"
CHANGE_PASSWORD_PATH = "/iam/cambio-password"  # noqa: S105 - a path
POLICY = "iam.sso_policy"
# last_seen_at is written at most this often: a page view is not worth a write each time.
TOUCH_INTERVAL = timedelta(seconds=60)
# Browsers ignore tabs and newlines in URLs and read a backslash as a slash: none may be in ?next=.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SsoPolicy:
    idle: timedelta
    absolute: timedelta
    secure_cookie: bool

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SsoPolicy:
        return cls(
            idle=timedelta(minutes=settings["SSO_IDLE_MINUTES"]),
            absolute=timedelta(hours=settings["SSO_ABSOLUTE_HOURS"]),
            secure_cookie=settings["SSO_SECURE_COOKIE"],
        )


def as_utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes: they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def policy() -> SsoPolicy:
    return current_app.extensions[POLICY]  # type: ignore[no-any-return]


# --- service functions (inside the caller's transaction) -------------------------------------------------


def start_session(
    session: Session, *, account: Account, origin: Origin, sso_policy: SsoPolicy, now: datetime | None = None
) -> tuple[str, SsoSession]:
    """A new SSO session for the account at its current credentials_version; returns the cookie token."""
    token, row = new_session(account=account, origin=origin, sso_policy=sso_policy, now=now)
    session.add(row)
    return token, row


def new_session(
    *, account: Account, origin: Origin, sso_policy: SsoPolicy, now: datetime | None = None
) -> tuple[str, SsoSession]:
    """The row `start_session` adds and its cookie token, for a caller that writes it with a plain INSERT
    in its own transaction (the login, issue 18)."""
    now = now or datetime.now(UTC)
    token = new_token()
    row = SsoSession(
        id=uuid.uuid4(),
        token_hash=hash_token(token),
        account_id=account.id,
        credentials_version=account.credentials_version,
        created_at=now,
        last_seen_at=now,
        expires_at=now + sso_policy.absolute,
        source_address=origin.source_address,
        user_agent=(origin.user_agent or "")[:300] or None,
    )
    return token, row


def end_session(session: Session, *, token: str, now: datetime | None = None) -> SsoSession | None:
    """End the session of this cookie token (logout) with its tokens, and owe its clients a back-channel
    logout; returns it, or None when there was none. Ending an ended session again does nothing."""
    now = now or datetime.now(UTC)
    row = session.execute(
        select(SsoSession).where(SsoSession.token_hash == hash_token(token)).with_for_update()
    ).scalar()
    if row is not None and row.ended_at is None:
        row.ended_at = now
        _revoke_session_tokens(session, sso_session_id=row.id, now=now)
        backchannel.schedule(session, account_id=row.account_id, sso_session_ids=[row.id], now=now)
    return row


def sign_out(*, db: Database, token: str) -> None:
    """End the SSO session of this cookie token (RP-initiated logout) in a transaction of its own."""
    with db.transaction() as session:
        end_session(session, token=token)


def end_all_sessions(session: Session, *, account_id: uuid.UUID, now: datetime | None = None) -> None:
    """End every session and token of an account, and owe a back-channel logout to the clients of every
    session still standing: call it in the transaction that bumps credentials_version, disables or revokes
    the account (the bump alone already stops them at their next use; this tells the clients now)."""
    now = now or datetime.now(UTC)
    # Not ended and not past the absolute timeout: an idle session is included, since the clients it
    # signed in may still be running sessions of their own.
    standing = list(
        session.scalars(
            select(SsoSession.id).where(
                SsoSession.account_id == account_id,
                SsoSession.ended_at.is_(None),
                SsoSession.expires_at > now,
            )
        )
    )
    session.execute(
        update(SsoSession)
        .where(SsoSession.account_id == account_id, SsoSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.account_id == account_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(
        update(AccessToken)
        .where(
            AccessToken.account_id == account_id,
            AccessToken.revoked_at.is_(None),
            AccessToken.expires_at > now,
        )
        .values(revoked_at=now)
    )
    backchannel.schedule(session, account_id=account_id, sso_session_ids=standing, now=now)


def _revoke_session_tokens(session: Session, *, sso_session_id: uuid.UUID, now: datetime) -> None:
    """Revoke the refresh token families begun in this SSO session, and the access tokens issued in it or
    from those families."""
    begun = aliased(RefreshToken)  # its own name: a subquery on the updated table must not correlate to it
    families = select(begun.family_id).where(begun.sso_session_id == sso_session_id)
    session.execute(
        update(AccessToken)
        .where(
            or_(AccessToken.sso_session_id == sso_session_id, AccessToken.refresh_family_id.in_(families)),
            AccessToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id.in_(families), RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def is_live(row: SsoSession, account: Account, sso_policy: SsoPolicy, now: datetime) -> bool:
    """Whether a session still stands: not ended, not timed out, credentials unchanged, account usable."""
    return (
        row.ended_at is None
        and as_utc(row.expires_at) > now
        and as_utc(row.last_seen_at) + sso_policy.idle > now
        and row.credentials_version == account.credentials_version
        and account.state in (AccountState.ACTIVE.value, AccountState.MUST_CHANGE_PASSWORD.value)
    )


@dataclass(frozen=True)
class SignedIn:
    """The current browser's session and account (detached objects: read, do not modify)."""

    session: SsoSession
    account: Account


def load(token: str | None, *, sso_policy: SsoPolicy, now: datetime | None = None) -> SignedIn | None:
    """The live session of a cookie token, touching its idle timer; None when absent, ended or expired."""
    if not token or len(token) > 100:
        return None
    now = now or datetime.now(UTC)
    with db.transaction() as session:
        # Session and account in one statement: this runs on every page and authorize of a signed-in browser.
        found = session.execute(
            select(SsoSession, Account)
            .join(Account, Account.id == SsoSession.account_id)
            .where(SsoSession.token_hash == hash_token(token))
        ).first()
        if found is None:
            return None
        row, account = found
        if not is_live(row, account, sso_policy, now):
            return None
        signed = SignedIn(session=row, account=account)
    if now - as_utc(signed.session.last_seen_at) >= TOUCH_INTERVAL:
        # A write-only statement of its own: a read-then-write transaction would deadlock on SQLite.
        with db.transaction() as session:
            session.execute(
                update(SsoSession).where(SsoSession.id == signed.session.id).values(last_seen_at=now)
            )
    return signed


# --- the request's view ---------------------------------------------------------------------------------


def signed_in() -> SignedIn | None:
    """The SSO session of the current request (any state that may sign in, including must-change)."""
    if "iam_signed_in" not in g:
        g.iam_signed_in = load(request.cookies.get(current_cookie()), sso_policy=policy())
    return g.iam_signed_in  # type: ignore[no-any-return]


def current_account() -> Account | None:
    """The account signed in to IAM in this browser, or None. May be in must_change_password."""
    current = signed_in()
    return current.account if current else None


def login_required(view: F) -> F:
    """For IAM pages: sends anonymous browsers to the login page, and accounts with a temporary password
    to the forced change (D-ACC-4); sets g.account for the view."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        account = current_account()
        if account is None:
            return redirect(login_url(request.full_path if request.query_string else request.path))
        if account.state == AccountState.MUST_CHANGE_PASSWORD.value:
            return redirect(f"{CHANGE_PASSWORD_PATH}?{urlencode({'next': safe_next(request.path)})}")
        g.account = account
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def login_url(next_path: str | None = None) -> str:
    target = safe_next(next_path)
    return f"{LOGIN_PATH}?{urlencode({'next': target})}" if target != "/" else LOGIN_PATH


def safe_next(target: str | None) -> str:
    """target if it is a local path, else "/": ?next= must never become an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or _CONTROL.search(target):
        return "/"
    return target.rstrip("?")


def set_cookie(response: R, token: str) -> R:
    sso_policy = policy()
    response.set_cookie(
        cookie_name(sso_policy.secure_cookie),
        token,
        max_age=int(sso_policy.absolute.total_seconds()),
        path="/",
        secure=sso_policy.secure_cookie,
        httponly=True,
        samesite="Lax",
    )
    return response


def clear_cookie(response: R) -> R:
    sso_policy = policy()
    response.delete_cookie(
        cookie_name(sso_policy.secure_cookie),
        path="/",
        secure=sso_policy.secure_cookie,
        httponly=True,
        samesite="Lax",
    )
    return response


def register_sessions(app: Any) -> None:
    app.extensions[POLICY] = SsoPolicy.from_settings(app.config)
