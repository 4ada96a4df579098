"""Authorization codes after their first use: spent, not deleted, so that a second use is caught and
revokes what the first one issued (RFC 6749 section 4.1.2: "the authorization server MUST deny the request
and SHOULD revoke (when possible) all tokens previously issued based on that authorization code").

A code is spent by a conditional UPDATE (two racing exchanges: one wins). The tokens it issued are written
on its row in the transaction that records them; a replay marks the row `reused_at` and revokes them. A
replay that lands between the spend and that transaction is seen there: the first exchange is refused too,
so no token of a replayed code ever leaves. Rows are purged a day after the code expired.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from polis.db import Database
from polis.worker import Loop
from sqlalchemy import Row, Table, bindparam, delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from iam.oidc import families
from iam.oidc.models import AccessToken, AuthorizationCode
from iam.oidc.statements import ACCOUNT_COLUMNS

log = logging.getLogger("iam.oidc.codes")

KEPT_AFTER_EXPIRY = timedelta(days=1)
PURGE_SECONDS = 600.0

_CODES: Table = AuthorizationCode.__table__  # type: ignore[assignment]
_SPEND = (
    update(_CODES)
    .where(_CODES.c.code_hash == bindparam("hash"), _CODES.c.used_at.is_(None))
    .values(used_at=bindparam("now"))
    .returning(*_CODES.c)
)
# PostgreSQL: the spend and the account's claims in one statement, outside a transaction (one round trip
# instead of BEGIN, UPDATE, SELECT and COMMIT); an account gone since gives its columns as NULL.
_SPENT = _SPEND.cte("spent")
_SPEND_WITH_ACCOUNT = select(_SPENT, *ACCOUNT_COLUMNS).outerjoin_from(
    _SPENT, ACCOUNT_COLUMNS[0].table, ACCOUNT_COLUMNS[0] == _SPENT.c.account_id
)
_READ_ACCOUNT = select(*ACCOUNT_COLUMNS).where(ACCOUNT_COLUMNS[0] == bindparam("account_id"))
_MARK_REPLAYED = (
    update(_CODES)
    .where(_CODES.c.code_hash == bindparam("hash"), _CODES.c.used_at.is_not(None))
    .values(reused_at=bindparam("now"))
    .returning(_CODES.c.client_id, _CODES.c.issued_jti, _CODES.c.issued_family_id)
)
_RECORD_ISSUED = (
    update(_CODES)
    .where(_CODES.c.code_hash == bindparam("hash"))
    .values(issued_jti=bindparam("jti"), issued_family_id=bindparam("family_id"))
    .returning(_CODES.c.reused_at)
)


def spend(session: Session, code_hash: str, now: datetime) -> Row[Any] | None:
    """The code's row, spent now; None for an unknown code and for a replay (whose tokens are revoked)."""
    row = session.execute(_SPEND, {"hash": code_hash, "now": now}).one_or_none()
    if row is None:
        _replayed(session, code_hash, now)
    return row


def spend_with_account(
    db: Database, code_hash: str, now: datetime
) -> tuple[Row[Any], Row[Any] | None] | None:
    """`spend`, committed at once, with the account's columns (statements.ACCOUNT_COLUMNS; None when the
    account is gone): the token request's read of the code."""
    if db.is_sqlite:  # no UPDATE inside a WITH: two statements in one transaction
        with db.transaction() as session:
            row = spend(session, code_hash, now)
            if row is None:
                return None
            read = session.execute(_READ_ACCOUNT, {"account_id": row.account_id})
            account = cast("Row[Any] | None", read.first())
            return row, account
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        found: Row[Any] | None = connection.execute(
            _SPEND_WITH_ACCOUNT, {"hash": code_hash, "now": now}
        ).one_or_none()
    if found is None:
        with db.transaction() as session:
            _replayed(session, code_hash, now)
        return None
    return found, (found if found.id is not None else None)


def _replayed(session: Session, code_hash: str, now: datetime) -> None:
    """A code that was not there to spend: if it was spent before, mark it and revoke what it issued."""
    replayed = session.execute(_MARK_REPLAYED, {"hash": code_hash, "now": now}).one_or_none()
    if replayed is not None:
        _revoke_issued(session, replayed.issued_jti, replayed.issued_family_id, now)
        log.warning(
            "authorization code used twice: the tokens it issued are revoked",
            extra={"client_id": replayed.client_id},
        )


def record_issued(connection: Connection, code_hash: str, *, jti: str, family_id: uuid.UUID | None) -> bool:
    """Write on the code what it issued, in the transaction storing the tokens; True when a replay of the
    code arrived meanwhile (the caller rolls back and refuses)."""
    reused_at = connection.execute(
        _RECORD_ISSUED, {"hash": code_hash, "jti": jti, "family_id": family_id}
    ).scalar_one_or_none()
    return reused_at is not None


def _revoke_issued(session: Session, jti: str | None, family_id: uuid.UUID | None, now: datetime) -> None:
    if jti is not None:
        session.execute(
            update(AccessToken)
            .where(AccessToken.jti == jti, AccessToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    if family_id is not None:
        families.end(session, family_id, now)


def purge(db: Database, now: datetime | None = None) -> int:
    """Delete the codes that expired more than a day ago (used or abandoned); how many."""
    moment = now or datetime.now(UTC)
    with db.transaction() as session:
        result = session.execute(delete(_CODES).where(_CODES.c.expires_at < moment - KEPT_AFTER_EXPIRY))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge_loop(db: Database, *, interval: float = PURGE_SECONDS) -> Loop:
    """The worker loop that keeps the codes table to about a day of sign-ins."""

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                purged = purge(db)
                if purged:
                    log.info("expired authorization codes purged", extra={"purged": purged})
            except SQLAlchemyError as error:
                log.warning(
                    "authorization code purge failed; retrying", extra={"error": type(error).__name__}
                )
            stop.wait(interval)

    return Loop("oidc-code-purge", run)
