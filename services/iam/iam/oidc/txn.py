"""Write transactions that read first and then write, without deadlocks on SQLite.

On SQLite (WAL), two deferred transactions that both read and then write make the second fail at once
with "database is locked" (its snapshot is stale), whatever the busy timeout. `write_transaction` begins
with BEGIN IMMEDIATE there (polis.db honours the connection's "immediate" flag), so writers queue behind
the busy timeout instead. On PostgreSQL it is an ordinary transaction (callers lock rows FOR UPDATE).
Keep these transactions short: never an argon2 hash inside one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from polis.db import Database
from sqlalchemy.orm import Session


@contextmanager
def write_transaction(db: Database) -> Iterator[Session]:
    if not db.is_sqlite:
        with db.transaction() as session:
            yield session
        return
    with db.engine.connect() as connection:
        connection.info["immediate"] = True
        try:
            session = Session(bind=connection, expire_on_commit=False)
            try:
                with session.begin():
                    yield session
            finally:
                session.close()
        finally:
            connection.info.pop("immediate", None)
