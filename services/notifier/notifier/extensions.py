"""The notifier database handle, created unbound: create_app or the worker configures it."""

from typing import Any

from polis.db import Database
from sqlalchemy import event

db = Database()


def begin_immediate_on_sqlite(database: Database) -> None:
    """On SQLite, make every transaction take the write lock at BEGIN (polis.db's `immediate` flag).

    Two worker processes on one SQLite file (replicas, or a restart overlapping the old process) would
    otherwise fail a read-then-write transaction with "database is locked" instead of waiting its turn: the
    consumer would retry and park healthy events. PostgreSQL needs nothing of the kind.
    """
    if not database.is_sqlite:
        return

    def _immediate(_dbapi_connection: Any, record: Any) -> None:
        record.info["immediate"] = True

    event.listen(database.engine, "connect", _immediate)
