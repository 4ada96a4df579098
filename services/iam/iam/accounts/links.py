"""Single-use links and their tokens: random (signed when mailed), stored as a hash, spent once.

Every table of such credentials (registration confirmations, email verifications, unlock links, temporary
passwords) has `account_id`, `expires_at` and a nullable "spent" column (`used_at`; `verified_at` for the
email verifications). A row is live while unspent and unexpired; it is spent by one conditional UPDATE, so
of two concurrent uses of one link only one wins (D-ACC-3, D-ACC-6, D-ACC-7).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

USED = "used_at"
TOKEN_BYTES = 32
SIGNED_TOKEN_BYTES = 24  # the signature and timestamp come on top
# Rows of the session an UPDATE matched are found by the primary keys it returns, not by evaluating the
# conditions in Python: SQLite gives naive datetimes back, which Python cannot compare with `now`.
SYNCHRONIZE = "fetch"


def hash_token(token: str) -> str:
    """What is stored of a token: its SHA-256 in hex, so a copy of the table opens nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(serializer: URLSafeTimedSerializer | None = None) -> str:
    """A random token from the operating system's CSPRNG; signed by `serializer` when given (a forged
    token then fails before any lookup)."""
    if serializer is None:
        return secrets.token_urlsafe(TOKEN_BYTES)
    return str(serializer.dumps(secrets.token_urlsafe(SIGNED_TOKEN_BYTES)))


def live(model: Any, now: datetime, *, spent: str = USED, **match: Any) -> list[ColumnElement[bool]]:
    """The conditions of the rows of `model` matching `match` that can still be used at `now`."""
    return [
        *(getattr(model, name) == value for name, value in match.items()),
        getattr(model, spent).is_(None),
        model.expires_at > now,
    ]


def issue(
    session: Session,
    model: Any,
    *,
    account_id: uuid.UUID,
    ttl: timedelta,
    now: datetime,
    serializer: URLSafeTimedSerializer | None = None,
    **columns: Any,
) -> tuple[str, Any]:
    """A new token and its row in `model` (only the token's hash), added to the caller's transaction."""
    token = new_token(serializer)
    row = model(
        id=uuid.uuid4(),
        account_id=account_id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + ttl,
        **columns,
    )
    session.add(row)
    return token, row


def find(session: Session, model: Any, token: str, now: datetime, *, spent: str = USED) -> Any | None:
    """The live row of this token, or None (unknown, used or expired: the caller answers the same)."""
    return session.scalar(select(model).where(*live(model, now, spent=spent, token_hash=hash_token(token))))


def spend(session: Session, model: Any, now: datetime, *, spent: str = USED, **match: Any) -> Any | None:
    """Use up the live row matching `match` (a `token_hash`, an `id`, ...): its (id, account_id), or None.

    One conditional UPDATE decides: of two concurrent uses, only one gets the row back.
    """
    return session.execute(
        update(model)
        .where(*live(model, now, spent=spent, **match))
        .values({spent: now})
        .returning(model.id, model.account_id)
        .execution_options(synchronize_session=SYNCHRONIZE)
    ).first()


def spend_token(session: Session, model: Any, token: str, now: datetime, *, spent: str = USED) -> Any | None:
    """`spend` the live row of this token."""
    return spend(session, model, now, spent=spent, token_hash=hash_token(token))


def expire(session: Session, model: Any, *, account_id: uuid.UUID, now: datetime, spent: str = USED) -> None:
    """End every live row of the account now (a newer link supersedes them, or their purpose is over)."""
    session.execute(
        update(model)
        .where(*live(model, now, spent=spent, account_id=account_id))
        .values(expires_at=now)
        .execution_options(synchronize_session=SYNCHRONIZE)
    )
