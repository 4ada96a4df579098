"""Write transactions that read first and then write.

On SQLite every transaction of polis.db begins IMMEDIATE, so a read-then-write transaction waits its turn
behind the busy timeout instead of failing with "database is locked"; on PostgreSQL callers lock the rows
they will change (FOR UPDATE). `write_transaction` names that intent where it matters; keep these
transactions short: never an argon2 hash inside one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from polis.db import Database
from sqlalchemy.orm import Session


@contextmanager
def write_transaction(db: Database) -> Iterator[Session]:
    with db.transaction() as session:
        yield session
